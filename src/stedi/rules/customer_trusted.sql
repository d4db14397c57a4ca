-- customer_trusted: each customer's latest record, kept only if it grants research consent.
-- A newer record supersedes older ones, so consent given later counts and consent withdrawn
-- by a newer record removes the customer. Ties on lastupdatedate resolve towards no consent.
SELECT customername, email, phone, birthday, serialnumber, registrationdate, lastupdatedate,
       sharewithresearchasofdate, sharewithpublicasofdate, sharewithfriendsasofdate
FROM (
    SELECT *,
           ROW_NUMBER() OVER (
               PARTITION BY email
               ORDER BY lastupdatedate DESC NULLS LAST,
                        sharewithresearchasofdate ASC NULLS FIRST,
                        registrationdate DESC NULLS LAST,
                        customername, phone, birthday, serialnumber,
                        sharewithpublicasofdate, sharewithfriendsasofdate
           ) AS recency
    FROM customer_landing
) AS records
WHERE recency = 1 AND sharewithresearchasofdate IS NOT NULL
