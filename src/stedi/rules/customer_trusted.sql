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

-- recompute by customer_landing.email: a customer's row changes only with their own records
SELECT email FROM customer_landing__changed

-- check email_not_null: every customer has an email
SELECT * FROM customer_trusted WHERE email IS NULL

-- check unique_email: one record per customer
SELECT email FROM customer_trusted GROUP BY email HAVING COUNT(*) > 1

-- check consent: every customer has a research-consent date
SELECT * FROM customer_trusted WHERE sharewithresearchasofdate IS NULL

-- check plausible_dates (warn): dates fall between 2000 and 2100
SELECT * FROM customer_trusted
WHERE NOT lastupdatedate BETWEEN 946684800000 AND 4102444800000
   OR NOT sharewithresearchasofdate BETWEEN 946684800000 AND 4102444800000
