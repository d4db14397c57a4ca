-- step_trainer_trusted: readings, each once, of devices whose owner is in customer_curated.
-- Under the 'as-of' consent policy only readings at or after the owner's consent date count.
SELECT DISTINCT s.sensorreadingtime, s.serialnumber, s.distancefromobject
FROM step_trainer_landing AS s
JOIN device_ownership AS o ON s.serialnumber = o.serialnumber
JOIN customer_curated AS c ON o.owner_email = c.email
CROSS JOIN run_parameters AS p
WHERE p.consent_policy = 'any' OR s.sensorreadingtime >= c.sharewithresearchasofdate
