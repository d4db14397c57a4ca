-- customer_curated: trusted customers who have at least one trusted phone reading.
SELECT c.*
FROM customer_trusted AS c
WHERE EXISTS (SELECT 1 FROM accelerometer_trusted AS a WHERE a."user" = c.email)
