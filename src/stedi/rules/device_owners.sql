-- device_owners: the resolved owner of each device, from device_ownership. Tables built from it
-- change only when an owner changes, not when the coverage figures of device_ownership move.
SELECT serialnumber, owner_email FROM device_ownership WHERE owner_email IS NOT NULL

-- recompute by device_ownership.serialnumber: a device's owner changes only with its own row of device_ownership
SELECT serialnumber FROM device_ownership__changed

-- check unique_serial: one owner per device
SELECT serialnumber FROM device_owners GROUP BY serialnumber HAVING COUNT(*) > 1
