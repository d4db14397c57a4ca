-- device_ownership: who owns each step trainer, from the device's own readings.
-- The serial numbers customers declared are defective (many share a few), so a device belongs to
-- the one trusted customer whose phone readings, at any time, share the timestamps of at least
-- 90% of the device's distinct reading times. None or several such customers: unresolved (NULL).
-- (Customers and devices are numbered first, so the big joins and counts work on integers.)
WITH customers AS (
    SELECT email, ROW_NUMBER() OVER (ORDER BY email) AS customer_id FROM customer_trusted
),
devices AS (
    SELECT serialnumber, ROW_NUMBER() OVER (ORDER BY serialnumber) AS device_id
    FROM (SELECT DISTINCT serialnumber FROM step_trainer_landing) AS serials
),
device_times AS (
    SELECT DISTINCT d.device_id, s.sensorreadingtime
    FROM step_trainer_landing AS s JOIN devices AS d ON s.serialnumber = d.serialnumber
),
device_totals AS (
    SELECT device_id, COUNT(*) AS total_times FROM device_times GROUP BY device_id
),
phone_times AS (  -- every time: matches keeps those some device has. (Filtering here, with a join
                  -- against all device times feeding the DISTINCT, ran out of 1 GB at 100 M readings:
                  -- DuckDB could not spill both hash tables at once; either alone spills.)
    SELECT DISTINCT c.customer_id, a."timestamp"
    FROM accelerometer_landing AS a JOIN customers AS c ON a."user" = c.email
),
matches AS (
    SELECT d.device_id, p.customer_id, COUNT(*) AS matched_times
    FROM device_times AS d
    JOIN phone_times AS p ON d.sensorreadingtime = p."timestamp"
    GROUP BY d.device_id, p.customer_id
),
candidates AS (
    SELECT m.device_id, m.customer_id
    FROM matches AS m
    JOIN device_totals AS t ON m.device_id = t.device_id
    WHERE m.matched_times >= 0.9 * t.total_times
),
best AS (
    SELECT device_id, MAX(matched_times) AS matched_times FROM matches GROUP BY device_id
),
resolved AS (
    SELECT device_id, COUNT(*) AS candidates, MIN(customer_id) AS customer_id
    FROM candidates GROUP BY device_id
),
owners AS (
    SELECT r.device_id, c.email
    FROM resolved AS r JOIN customers AS c ON c.customer_id = r.customer_id
    WHERE r.candidates = 1
)
SELECT d.serialnumber,
       o.email AS owner_email,
       COALESCE(b.matched_times, 0) AS matched_times,
       t.total_times,
       CAST(COALESCE(b.matched_times, 0) AS DOUBLE) / t.total_times AS coverage,
       COALESCE(r.candidates, 0) AS candidates,
       ct.serialnumber = d.serialnumber AS declared_serial_agrees
FROM device_totals AS t
JOIN devices AS d ON t.device_id = d.device_id
LEFT JOIN best AS b ON t.device_id = b.device_id
LEFT JOIN resolved AS r ON t.device_id = r.device_id
LEFT JOIN owners AS o ON t.device_id = o.device_id
LEFT JOIN customer_trusted AS ct ON ct.email = o.email

-- recompute by step_trainer_landing.serialnumber: a device's row changes only with changed readings of
-- its own, changed phone readings at its reading times, or readings of customers newly trusted, no
-- longer trusted or changed at those times
SELECT serialnumber FROM step_trainer_landing__changed
UNION
SELECT s.serialnumber
FROM step_trainer_landing AS s
JOIN (SELECT "timestamp" FROM accelerometer_landing__changed
      UNION
      SELECT a."timestamp" FROM accelerometer_landing AS a JOIN customer_trusted__changed AS c ON a."user" = c.email
     ) AS t ON s.sensorreadingtime = t."timestamp"

-- recompute narrows accelerometer_landing.timestamp: to those devices' reading times, the phone readings they match
SELECT sensorreadingtime FROM step_trainer_landing

-- check unique_serial: one row per device, none without a serial
SELECT serialnumber FROM device_ownership GROUP BY serialnumber HAVING COUNT(*) > 1 OR serialnumber IS NULL

-- check owner_consent: every owner is in customer_trusted
SELECT * FROM device_ownership
WHERE owner_email IS NOT NULL AND owner_email NOT IN (SELECT email FROM customer_trusted)

-- check coverage: an owner shares at least 90% of the device's reading times, and is the only one
SELECT * FROM device_ownership WHERE owner_email IS NOT NULL AND (coverage < 0.9 OR candidates <> 1)
