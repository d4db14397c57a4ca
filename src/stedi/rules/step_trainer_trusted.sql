-- step_trainer_trusted: readings, each once, of devices whose owner is in customer_curated.
-- Under the 'as-of' consent policy only readings at or after the owner's consent date count.
-- (Grouped rather than DISTINCT, the distance taken by ANY_VALUE, so that Spark keeps a -0.0 as
-- sent: it normalises the keys of a grouping, SPARK-26021, but not the values it aggregates.)
SELECT s.sensorreadingtime, s.serialnumber, ANY_VALUE(s.distancefromobject) AS distancefromobject
FROM step_trainer_landing AS s
JOIN device_owners AS o ON s.serialnumber = o.serialnumber
JOIN customer_curated AS c ON o.owner_email = c.email
CROSS JOIN run_parameters AS p
WHERE p.consent_policy = 'any' OR s.sensorreadingtime >= c.sharewithresearchasofdate
GROUP BY s.sensorreadingtime, s.serialnumber, s.distancefromobject

-- recompute by step_trainer_landing.serialnumber: a device's readings change only with its own readings, its owner or its owner's record
SELECT serialnumber FROM step_trainer_landing__changed
UNION
SELECT serialnumber FROM device_owners__changed
UNION
SELECT o.serialnumber FROM device_owners AS o JOIN customer_curated__changed AS c ON o.owner_email = c.email

-- check keys_not_null: every reading has a serial number and a time
SELECT * FROM step_trainer_trusted WHERE serialnumber IS NULL OR sensorreadingtime IS NULL

-- check unique_reading: each reading once (rows whose hash repeats, then compared whole)
SELECT sensorreadingtime, serialnumber, distancefromobject FROM step_trainer_trusted
WHERE HASH(sensorreadingtime, serialnumber, distancefromobject) IN (
    SELECT HASH(sensorreadingtime, serialnumber, distancefromobject) AS h FROM step_trainer_trusted
    GROUP BY h HAVING COUNT(*) > 1
)
GROUP BY sensorreadingtime, serialnumber, distancefromobject HAVING COUNT(*) > 1

-- check consent: every reading is of a device whose owner is curated (under the active policy)
SELECT s.* FROM step_trainer_trusted AS s
LEFT JOIN device_owners AS o ON o.serialnumber = s.serialnumber
LEFT JOIN customer_curated AS c ON c.email = o.owner_email
CROSS JOIN run_parameters AS p
WHERE c.email IS NULL OR (p.consent_policy = 'as-of' AND s.sensorreadingtime < c.sharewithresearchasofdate)

-- check plausible_timestamps (warn): readings fall between 2000 and 2100
SELECT * FROM step_trainer_trusted WHERE NOT sensorreadingtime BETWEEN 946684800000 AND 4102444800000
