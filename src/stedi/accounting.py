"""Where every landing row went: kept in the trusted table, left out by a named rule, or quarantined.

For each source, the rows of its landing files equal kept + each rule's count + quarantined.
"""

from dataclasses import dataclass

import duckdb

# (source, rule, SQL counting the landing rows the rule leaves out). `$as_of` is true under the
# 'as-of' consent policy. Each count is of landing rows, so duplicates count once per copy.
LEFT_OUT = [
    ("customer", "superseded by a newer record of the same email",
     "SELECT COUNT(*) - COUNT(DISTINCT email) FROM customer_landing"),
    ("customer", "latest record has no research consent",
     "SELECT COUNT(DISTINCT email) - (SELECT COUNT(*) FROM customer_trusted) FROM customer_landing"),
    ("accelerometer", "not a customer with research consent",
     'SELECT COUNT(*) FROM accelerometer_landing WHERE "user" NOT IN (SELECT email FROM customer_trusted)'),
    ("accelerometer", "taken before the consent date",
     'SELECT COUNT(*) FROM accelerometer_landing AS a JOIN customer_trusted AS c ON a."user" = c.email '
     'WHERE $as_of AND a."timestamp" < c.sharewithresearchasofdate'),
    ("accelerometer", "duplicate reading",
     'SELECT COUNT(*) - (SELECT COUNT(*) FROM accelerometer_trusted) FROM accelerometer_landing AS a '
     'JOIN customer_trusted AS c ON a."user" = c.email '
     'WHERE NOT $as_of OR a."timestamp" >= c.sharewithresearchasofdate'),
    ("step_trainer", "device without a resolved owner",
     "SELECT COUNT(*) FROM step_trainer_landing AS s LEFT JOIN device_ownership AS o USING (serialnumber) "
     "WHERE o.owner_email IS NULL"),
    ("step_trainer", "owner not in customer_curated",
     "SELECT COUNT(*) FROM step_trainer_landing AS s JOIN device_ownership AS o USING (serialnumber) "
     "WHERE o.owner_email NOT IN (SELECT email FROM customer_curated)"),
    ("step_trainer", "taken before the owner's consent date",
     "SELECT COUNT(*) FROM step_trainer_landing AS s JOIN device_ownership AS o USING (serialnumber) "
     "JOIN customer_curated AS c ON c.email = o.owner_email "
     "WHERE $as_of AND s.sensorreadingtime < c.sharewithresearchasofdate"),
    ("step_trainer", "duplicate reading",
     "SELECT COUNT(*) - (SELECT COUNT(*) FROM step_trainer_trusted) FROM step_trainer_landing AS s "
     "JOIN device_ownership AS o USING (serialnumber) JOIN customer_curated AS c ON c.email = o.owner_email "
     "WHERE NOT $as_of OR s.sensorreadingtime >= c.sharewithresearchasofdate"),
]

KEPT_IN = {"customer": "customer_trusted", "accelerometer": "accelerometer_trusted", "step_trainer": "step_trainer_trusted"}


@dataclass
class SourceAccount:
    source: str
    landing_rows: int  # every non-empty line of the landing files
    kept: int
    left_out: dict[str, int]
    quarantined: int

    @property
    def balanced(self) -> bool:
        return self.landing_rows == self.kept + sum(self.left_out.values()) + self.quarantined


def account(con: duckdb.DuckDBPyConnection, consent_policy: str) -> list[SourceAccount]:
    """The accounting of each source, read from the tables of `con` (see `query.connect_tables`)."""
    def count(sql: str, **params) -> int:
        return con.execute(sql, params or None).fetchone()[0]

    as_of = consent_policy == "as-of"
    accounts = []
    for source, kept_in in KEPT_IN.items():
        quarantined = count("SELECT COUNT(*) FROM quarantine WHERE source = $source", source=source)
        accounts.append(
            SourceAccount(
                source,
                landing_rows=count(f"SELECT COUNT(*) FROM {source}_landing") + quarantined,
                kept=count(f"SELECT COUNT(*) FROM {kept_in}"),
                left_out={rule: count(sql, as_of=as_of) if "$as_of" in sql else count(sql)
                          for src, rule, sql in LEFT_OUT if src == source},
                quarantined=quarantined,
            )
        )
    return accounts
