"""Where every landing row went: kept in the trusted table, left out by a named rule, or quarantined.

For each source, the rows of its landing files equal kept + each rule's count + quarantined.
"""

from dataclasses import dataclass

import duckdb

# Per source: the table its rows are kept in, and one query counting, column by named rule, the
# landing rows the rules leave out (rows counted per user or device first, then classified; the
# rows taken before consent only under the 'as-of' policy, when `$as_of` is true). Counts are of
# landing rows, so a duplicate counts once per copy.
SOURCES = {
    "customer": ("customer_trusted", """
        SELECT COUNT(*) - COUNT(DISTINCT email) AS "superseded by a newer record of the same email",
               COUNT(DISTINCT email) - (SELECT COUNT(*) FROM customer_trusted)
                   AS "latest record has no research consent"
        FROM customer_landing"""),
    "accelerometer": ("accelerometer_trusted", """
        WITH per_user AS (SELECT "user", COUNT(*) AS n FROM accelerometer_landing GROUP BY "user"),
             before AS (SELECT COUNT(*) AS n
                        FROM accelerometer_landing AS a JOIN customer_trusted AS c ON a."user" = c.email
                        WHERE $as_of AND a."timestamp" < c.sharewithresearchasofdate)
        SELECT COALESCE(SUM(n) FILTER (WHERE c.email IS NULL), 0) AS "not a customer with research consent",
               (SELECT n FROM before) AS "taken before the consent date",
               COALESCE(SUM(n) FILTER (WHERE c.email IS NOT NULL), 0) - (SELECT n FROM before)
                   - (SELECT COUNT(*) FROM accelerometer_trusted) AS "duplicate reading"
        FROM per_user AS a LEFT JOIN customer_trusted AS c ON a."user" = c.email"""),
    "step_trainer": ("step_trainer_trusted", """
        WITH per_device AS (SELECT serialnumber, COUNT(*) AS n FROM step_trainer_landing GROUP BY serialnumber),
             before AS (SELECT COUNT(*) AS n
                        FROM step_trainer_landing AS s
                        JOIN device_owners AS o ON s.serialnumber = o.serialnumber
                        JOIN customer_curated AS c ON c.email = o.owner_email
                        WHERE $as_of AND s.sensorreadingtime < c.sharewithresearchasofdate)
        SELECT COALESCE(SUM(n) FILTER (WHERE o.owner_email IS NULL), 0) AS "device without a resolved owner",
               COALESCE(SUM(n) FILTER (WHERE o.owner_email IS NOT NULL AND c.email IS NULL), 0)
                   AS "owner not in customer_curated",
               (SELECT n FROM before) AS "taken before the owner's consent date",
               COALESCE(SUM(n) FILTER (WHERE c.email IS NOT NULL), 0) - (SELECT n FROM before)
                   - (SELECT COUNT(*) FROM step_trainer_trusted) AS "duplicate reading"
        FROM per_device AS s
        LEFT JOIN device_owners AS o ON s.serialnumber = o.serialnumber
        LEFT JOIN customer_curated AS c ON c.email = o.owner_email"""),
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
