-- device_ownership: who owns each step trainer, from the device's own readings.
-- The serial numbers customers declared are defective (many share a few), so a device belongs to
-- the one trusted customer whose phone readings, at any time, share the timestamps of at least
-- 90% of the device's distinct reading times. None or several such customers: unresolved (NULL).
WITH device_times AS (
    SELECT DISTINCT serialnumber, sensorreadingtime FROM step_trainer_landing
),
device_totals AS (
    SELECT serialnumber, COUNT(*) AS total_times FROM device_times GROUP BY serialnumber
),
phone_times AS (
    SELECT DISTINCT a."user" AS email, a."timestamp"
    FROM accelerometer_landing AS a
    JOIN customer_trusted AS c ON a."user" = c.email
),
matches AS (
    SELECT d.serialnumber, p.email, COUNT(*) AS matched_times
    FROM device_times AS d
    JOIN phone_times AS p ON d.sensorreadingtime = p."timestamp"
    GROUP BY d.serialnumber, p.email
),
candidates AS (
    SELECT m.serialnumber, m.email, m.matched_times
    FROM matches AS m
    JOIN device_totals AS t ON m.serialnumber = t.serialnumber
    WHERE m.matched_times >= 0.9 * t.total_times
),
best AS (
    SELECT serialnumber, MAX(matched_times) AS matched_times FROM matches GROUP BY serialnumber
),
resolved AS (
    SELECT serialnumber, COUNT(*) AS candidates, MIN(email) AS email
    FROM candidates GROUP BY serialnumber
)
SELECT t.serialnumber,
       CASE WHEN r.candidates = 1 THEN r.email END AS owner_email,
       COALESCE(b.matched_times, 0) AS matched_times,
       t.total_times,
       CAST(COALESCE(b.matched_times, 0) AS DOUBLE) / t.total_times AS coverage,
       COALESCE(r.candidates, 0) AS candidates,
       CASE WHEN r.candidates = 1 THEN c.serialnumber = t.serialnumber END AS declared_serial_agrees
FROM device_totals AS t
LEFT JOIN best AS b ON t.serialnumber = b.serialnumber
LEFT JOIN resolved AS r ON t.serialnumber = r.serialnumber
LEFT JOIN customer_trusted AS c ON r.candidates = 1 AND c.email = r.email

-- check unique_serial: one row per device, none without a serial
SELECT serialnumber FROM device_ownership GROUP BY serialnumber HAVING COUNT(*) > 1 OR serialnumber IS NULL

-- check owner_consent: every owner is in customer_trusted
SELECT * FROM device_ownership
WHERE owner_email IS NOT NULL AND owner_email NOT IN (SELECT email FROM customer_trusted)

-- check coverage: an owner shares at least 90% of the device's reading times, and is the only one
SELECT * FROM device_ownership WHERE owner_email IS NOT NULL AND (coverage < 0.9 OR candidates <> 1)
