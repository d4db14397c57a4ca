-- accelerometer_trusted: phone readings of customers in customer_trusted, each reading once.
-- Under the 'as-of' consent policy only readings taken at or after the consent date count.
-- (Readings are made distinct with each customer numbered: DuckDB's DISTINCT over 100 million rows
-- with the email as text ran out of a 1 GB memory limit; over integers it spills. They are grouped
-- rather than DISTINCT, the values taken by ANY_VALUE, because Spark turns -0.0 into 0.0 in the keys
-- of a grouping (SPARK-26021) but not in the values it aggregates.)
WITH customers AS (
    SELECT email, sharewithresearchasofdate, ROW_NUMBER() OVER (ORDER BY email) AS customer_id
    FROM customer_trusted
)
SELECT c.email AS "user", r."timestamp", r.x, r.y, r.z
FROM (
    SELECT c.customer_id, a."timestamp", ANY_VALUE(a.x) AS x, ANY_VALUE(a.y) AS y, ANY_VALUE(a.z) AS z
    FROM accelerometer_landing AS a
    JOIN customers AS c ON a."user" = c.email
    CROSS JOIN run_parameters AS p
    WHERE p.consent_policy = 'any' OR a."timestamp" >= c.sharewithresearchasofdate
    GROUP BY c.customer_id, a."timestamp", a.x, a.y, a.z
) AS r
JOIN customers AS c ON c.customer_id = r.customer_id

-- recompute by accelerometer_landing.user: a customer's readings change only with their record or their own readings
SELECT email AS "user" FROM customer_trusted__changed
UNION
SELECT "user" FROM accelerometer_landing__changed

-- check keys_not_null: every reading has a user and a timestamp
SELECT * FROM accelerometer_trusted WHERE "user" IS NULL OR "timestamp" IS NULL

-- check unique_reading: each reading once (rows whose hash repeats, then compared whole)
SELECT "user", "timestamp", x, y, z FROM accelerometer_trusted
WHERE HASH("user", "timestamp", x, y, z) IN (
    SELECT HASH("user", "timestamp", x, y, z) AS h FROM accelerometer_trusted GROUP BY h HAVING COUNT(*) > 1
)
GROUP BY "user", "timestamp", x, y, z HAVING COUNT(*) > 1

-- check consent: every reading belongs to a customer with consent (under the active policy)
SELECT a.* FROM accelerometer_trusted AS a
LEFT JOIN customer_trusted AS c ON c.email = a."user"
CROSS JOIN run_parameters AS p
WHERE c.email IS NULL OR (p.consent_policy = 'as-of' AND a."timestamp" < c.sharewithresearchasofdate)

-- check plausible_timestamps (warn): readings fall between 2000 and 2100
SELECT * FROM accelerometer_trusted WHERE NOT "timestamp" BETWEEN 946684800000 AND 4102444800000
