-- customer_landing: the customer landing zone as received (JSON Lines), for Athena / the Glue Data Catalog.
--
-- Parameter: ${warehouse} is the warehouse root, the same value as the Glue jobs' --warehouse
-- argument, without a trailing slash (e.g. s3://my-bucket/stedi). Substitute it before running,
-- e.g. `envsubst '${warehouse}' < sql/customer_landing.sql` or Python's string.Template; the table
-- is created in the current database. Columns follow stedi.contract.CUSTOMER: lower-case names
-- (the SerDe matches the camelCase JSON keys case-insensitively), integers as bigint (epoch ms).
-- Malformed lines read as NULL rows; stedi's own landing table (in _table/) and anything else
-- whose name starts with _ or . is ignored by Athena.
CREATE EXTERNAL TABLE IF NOT EXISTS customer_landing (
  `customername` string,
  `email` string,
  `phone` string,
  `birthday` string,
  `serialnumber` string,
  `registrationdate` bigint,
  `lastupdatedate` bigint,
  `sharewithresearchasofdate` bigint,
  `sharewithpublicasofdate` bigint,
  `sharewithfriendsasofdate` bigint
)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES ('case.insensitive' = 'true', 'ignore.malformed.json' = 'true', 'dots.in.keys' = 'false')
STORED AS INPUTFORMAT 'org.apache.hadoop.mapred.TextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION '${warehouse}/customer/landing/'
TBLPROPERTIES ('classification' = 'json');
