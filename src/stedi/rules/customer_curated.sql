-- customer_curated: trusted customers who have at least one trusted phone reading.
SELECT c.*
FROM customer_trusted AS c
WHERE EXISTS (SELECT 1 FROM accelerometer_trusted AS a WHERE a."user" = c.email)

-- recompute by customer_trusted.email: a customer's row changes only with their record or their readings
SELECT email FROM customer_trusted__changed
UNION
SELECT "user" FROM accelerometer_trusted__changed

-- recompute narrows accelerometer_trusted.user: to those customers' readings
SELECT email FROM customer_trusted

-- check unique_email: one record per customer
SELECT email FROM customer_curated GROUP BY email HAVING COUNT(*) > 1

-- check consent: every customer is in customer_trusted
SELECT * FROM customer_curated WHERE email NOT IN (SELECT email FROM customer_trusted)
