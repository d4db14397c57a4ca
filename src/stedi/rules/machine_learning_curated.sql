-- machine_learning_curated: each trusted device reading paired with its owner's trusted phone
-- readings at the same millisecond. Joining on the timestamp alone would pair a device with
-- other people's phones. No direct identifiers: the customer is a salted SHA-256 pseudonym.
WITH owners AS (
    SELECT o.serialnumber, o.owner_email, SHA256(p.salt || o.owner_email) AS customer_key
    FROM device_owners AS o CROSS JOIN run_parameters AS p
)
SELECT s.sensorreadingtime, s.serialnumber, s.distancefromobject, a.x, a.y, a.z, o.customer_key
FROM step_trainer_trusted AS s
JOIN owners AS o ON s.serialnumber = o.serialnumber
JOIN accelerometer_trusted AS a ON a."user" = o.owner_email AND a."timestamp" = s.sensorreadingtime

-- recompute by step_trainer_trusted.serialnumber: a device's rows change only with its readings, its owner or its owner's phone readings
SELECT serialnumber FROM step_trainer_trusted__changed
UNION
SELECT serialnumber FROM device_owners__changed
UNION
SELECT o.serialnumber FROM device_owners AS o JOIN accelerometer_trusted__changed AS a ON a."user" = o.owner_email

-- recompute narrows device_owners.serialnumber: to those devices' owners
SELECT serialnumber FROM step_trainer_trusted

-- recompute narrows accelerometer_trusted.user: to those owners' phone readings
SELECT owner_email FROM device_owners

-- check keys_not_null: every row has a device, a time and a customer key
SELECT * FROM machine_learning_curated
WHERE serialnumber IS NULL OR sensorreadingtime IS NULL OR customer_key IS NULL

-- check no_identifiers: customer keys are SHA-256 pseudonyms, never a name, email or phone
SELECT * FROM (SELECT DISTINCT customer_key FROM machine_learning_curated) AS k
WHERE NOT regexp_matches(customer_key, '^[0-9a-f]{64}$')
   OR customer_key IN (SELECT email FROM customer_landing)
   OR customer_key IN (SELECT customername FROM customer_landing)
   OR customer_key IN (SELECT phone FROM customer_landing)

-- check consent: every row pairs a trusted device reading
SELECT * FROM machine_learning_curated AS m
WHERE NOT EXISTS (
    SELECT 1 FROM step_trainer_trusted AS s
    WHERE s.serialnumber = m.serialnumber AND s.sensorreadingtime = m.sensorreadingtime
)
