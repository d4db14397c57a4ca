-- accelerometer_trusted: phone readings of customers in customer_trusted, each reading once.
-- Under the 'as-of' consent policy only readings taken at or after the consent date count.
SELECT DISTINCT a."user", a."timestamp", a.x, a.y, a.z
FROM accelerometer_landing AS a
JOIN customer_trusted AS c ON a."user" = c.email
CROSS JOIN run_parameters AS p
WHERE p.consent_policy = 'any' OR a."timestamp" >= c.sharewithresearchasofdate
