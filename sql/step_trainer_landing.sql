-- step_trainer_landing: the step trainer landing zone as received (JSON Lines), for Athena / the Glue Data Catalog.
--
-- Parameter: ${warehouse} is the warehouse root, the same value as the Glue jobs' --warehouse
-- argument, without a trailing slash (e.g. s3://my-bucket/stedi). Substitute it before running,
-- e.g. `envsubst '${warehouse}' < sql/step_trainer_landing.sql` or Python's string.Template; the
-- table is created in the current database. Columns follow stedi.contract.STEP_TRAINER: lower-case
-- names (the SerDe matches the camelCase JSON keys case-insensitively), sensorreadingtime in epoch ms.
-- Malformed lines read as NULL rows; stedi's own landing table (in _table/) and anything else
-- whose name starts with _ or . is ignored by Athena.
CREATE EXTERNAL TABLE IF NOT EXISTS step_trainer_landing (
  `sensorreadingtime` bigint,
  `serialnumber` string,
  `distancefromobject` double
)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES ('case.insensitive' = 'true', 'ignore.malformed.json' = 'true', 'dots.in.keys' = 'false')
STORED AS INPUTFORMAT 'org.apache.hadoop.mapred.TextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION '${warehouse}/step_trainer/landing/'
TBLPROPERTIES ('classification' = 'json');
