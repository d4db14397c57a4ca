"""Where every landing row went: kept in the trusted table, left out by a named rule, or quarantined.

For each source, the rows of its landing files equal kept + each rule's count + quarantined.
"""

from dataclasses import dataclass

import duckdb

# Per source: the table its rows are kept in, and one query counting, column by named rule, the
# landing rows the rules leave out (one pass each). `$as_of` is true under the 'as-of' policy.
# Counts are of landing rows, so a duplicate counts once per copy.
SOURCES = {
    "customer": ("customer_trusted", """
        SELECT COUNT(*) - COUNT(DISTINCT email) AS "superseded by a newer record of the same email",
               COUNT(DISTINCT email) - (SELECT COUNT(*) FROM customer_trusted)
                   AS "latest record has no research consent"
        FROM customer_landing"""),
    "accelerometer": ("accelerometer_trusted", """
        SELECT COUNT(*) FILTER (WHERE email IS NULL) AS "not a customer with research consent",
               COUNT(*) FILTER (WHERE email IS NOT NULL AND before) AS "taken before the consent date",
               COUNT(*) FILTER (WHERE email IS NOT NULL AND NOT before)
                   - (SELECT COUNT(*) FROM accelerometer_trusted) AS "duplicate reading"
        FROM (SELECT $as_of AND a."timestamp" < c.sharewithresearchasofdate AS before, c.email
              FROM accelerometer_landing AS a LEFT JOIN customer_trusted AS c ON a."user" = c.email) AS rows"""),
    "step_trainer": ("step_trainer_trusted", """
        SELECT COUNT(*) FILTER (WHERE owner_email IS NULL) AS "device without a resolved owner",
               COUNT(*) FILTER (WHERE owner_email IS NOT NULL AND email IS NULL) AS "owner not in customer_curated",
               COUNT(*) FILTER (WHERE email IS NOT NULL AND before) AS "taken before the owner's consent date",
               COUNT(*) FILTER (WHERE email IS NOT NULL AND NOT before)
                   - (SELECT COUNT(*) FROM step_trainer_trusted) AS "duplicate reading"
        FROM (SELECT o.owner_email, c.email, $as_of AND s.sensorreadingtime < c.sharewithresearchasofdate AS before
              FROM step_trainer_landing AS s
              LEFT JOIN device_owners AS o ON s.serialnumber = o.serialnumber
              LEFT JOIN customer_curated AS c ON c.email = o.owner_email) AS rows"""),
}


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
    accounts = []
    for source, (kept_in, left_out) in SOURCES.items():
        landing, kept, quarantined = con.execute(
            f"SELECT (SELECT COUNT(*) FROM {source}_landing), (SELECT COUNT(*) FROM {kept_in}), "
            "(SELECT COUNT(*) FROM quarantine WHERE source = $source)",
            {"source": source},
        ).fetchone()
        parameters = {"as_of": consent_policy == "as-of"} if "$as_of" in left_out else None
        cursor = con.execute(left_out, parameters)
        counts = dict(zip([d[0] for d in cursor.description], cursor.fetchone()))
        accounts.append(SourceAccount(source, landing + quarantined, kept, counts, quarantined))
    return accounts
