-- accelerometer_landing: the accelerometer landing zone as received (JSON Lines), for Athena / the Glue Data Catalog.
--
-- Parameter: ${warehouse} is the warehouse root, the same value as the Glue jobs' --warehouse
-- argument, without a trailing slash (e.g. s3://my-bucket/stedi). Substitute it before running,
-- e.g. `envsubst '${warehouse}' < sql/accelerometer_landing.sql` or Python's string.Template; the
-- table is created in the current database. Columns follow stedi.contract.ACCELEROMETER; `user`
-- and `timestamp` are reserved words in Athena DDL, hence the backticks (on every column, alike).
-- Malformed lines read as NULL rows; stedi's own landing table (in _table/) and anything else
-- whose name starts with _ or . is ignored by Athena.
CREATE EXTERNAL TABLE IF NOT EXISTS accelerometer_landing (
  `user` string,
  `timestamp` bigint,
  `x` double,
  `y` double,
  `z` double
)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES ('case.insensitive' = 'true', 'ignore.malformed.json' = 'true', 'dots.in.keys' = 'false')
STORED AS INPUTFORMAT 'org.apache.hadoop.mapred.TextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION '${warehouse}/accelerometer/landing/'
TBLPROPERTIES ('classification' = 'json');
