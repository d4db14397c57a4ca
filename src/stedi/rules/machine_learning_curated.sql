-- machine_learning_curated: each trusted device reading paired with its owner's trusted phone
-- readings at the same millisecond. Joining on the timestamp alone would pair a device with
-- other people's phones. No direct identifiers: the customer is a salted SHA-256 pseudonym.
SELECT s.sensorreadingtime, s.serialnumber, s.distancefromobject, a.x, a.y, a.z,
       SHA256(p.salt || o.owner_email) AS customer_key
FROM step_trainer_trusted AS s
JOIN device_ownership AS o ON s.serialnumber = o.serialnumber
JOIN accelerometer_trusted AS a ON a."user" = o.owner_email AND a."timestamp" = s.sensorreadingtime
CROSS JOIN run_parameters AS p
