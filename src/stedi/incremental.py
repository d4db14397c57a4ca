"""Incremental maintenance: the rows a rule adds, or recomputes, when its inputs only grew.

A rule that joins and filters its inputs (a `Table.appends_from` input) is linear in each: the
rows it makes from grown inputs A' = A + dA and B' = B + dB are its rows from A and B plus
rule(dA, B) + rule(A', dB). In general, with the grown inputs in order, term i reads input i's
added rows, the grown inputs before it whole, and those after it as they were: the terms add up
to exactly the new rows (a telescoping sum), so a table appends them instead of being rebuilt.

A rule that aggregates cannot append, but one whose rows are per key of an input (see
`schema.Recompute`) recomputes only the keys its inputs' changed rows can change (added, removed
or rewritten), keeping the others.
"""

from collections.abc import Iterable

import sqlglot
from sqlglot import exp

from .landing import quote
from .schema import Recompute, parsed


def added(name: str) -> str:
    """The name a rule reads an input's added rows by."""
    return f"{name}__added"


def removed(name: str) -> str:
    """The name a rule reads an input's removed rows by (those of its files removed since)."""
    return f"{name}__removed"


def changed(name: str) -> str:
    """The name a recompute reads an input's changed rows by (see `changed_keys_sql`)."""
    return f"{name}__changed"


def before(name: str) -> str:
    """The name a rule reads an input's rows by, as they were when the table was last built."""
    return f"{name}__before"


def delta_sql(rule: str, grown: list[str]) -> str:
    """The rows `rule` adds when the inputs `grown` (in this order) gained rows, the others unchanged."""
    terms = []
    for i, name in enumerate(grown):
        renames = {name: added(name), **{later: before(later) for later in grown[i + 1:]}}
        terms.append(f"SELECT * FROM ({_replace_tables(rule, renames)}) AS term_{i}")
    return "\nUNION ALL\n".join(terms)


def new_rows_sql(rows: str, table: str, columns: tuple[tuple[str, str], ...]) -> str:
    """The distinct rows of the query `rows` that `table` does not hold (NULLs compare equal).

    Grouped rather than DISTINCT, DOUBLE columns taken by ANY_VALUE: Spark turns -0.0 into 0.0 in the
    keys of a grouping (SPARK-26021), not in the values it aggregates."""
    names = [quote(name) for name, _ in columns]
    values = ", ".join(f"ANY_VALUE(new.{n}) AS {n}" if kind == "DOUBLE" else f"new.{n}"
                       for n, (_, kind) in zip(names, columns))
    return f"SELECT {values} FROM ({rows_not_held_sql(f'({rows})', table, columns)}) AS new GROUP BY {', '.join(names)}"


def rows_not_held_sql(rows: str, table: str, columns: Iterable[tuple[str, str]]) -> str:
    """The rows of `rows` that `table` does not hold (each a table, or a query in parentheses), by
    all `columns` (NULLs compare equal): an anti join, which keeps duplicates and the rows as they are."""
    same = " AND ".join(f"held.{quote(name)} IS NOT DISTINCT FROM new.{quote(name)}" for name, _ in columns)
    return f"SELECT * FROM {rows} AS new WHERE NOT EXISTS (SELECT 1 FROM {table} AS held WHERE {same})"


def rows_differing_sql(columns: Iterable[tuple[str, str]], removed_rows: str, added_rows: str,
                       where: str | None = None) -> str:
    """The rows, in `columns`, that the tables `removed_rows` and `added_rows` hold a different
    number of times, each once: none when an input's rewritten files hold, in these columns, what
    they replaced. With `where`, only the rows meeting it are compared (the others cannot differ,
    see `pipeline.Rewrite`). Counted by groups (DuckDB's EXCEPT ALL numbers every row, ten times slower over
    millions); a float's zeros are also grouped by their text, which keeps -0.0 apart from 0.0
    (Spark's grouping would not), and only zeros are cast."""
    signs = {name: quote(f"stedi_sign_{name}") for name, kind in columns if kind == "DOUBLE"}
    values = ", ".join([quote(name) for name, _ in columns]
                       + [f"CASE WHEN {quote(name)} = 0 THEN CAST({quote(name)} AS VARCHAR) END AS {sign}"
                          for name, sign in signs.items()])
    names = ", ".join(quote(name) for name, _ in columns)
    only = f" WHERE {where}" if where else ""
    return (f"SELECT {names} FROM (SELECT {values}, 1 AS stedi_side FROM {removed_rows}{only}\n"
            f"UNION ALL SELECT {values}, -1 AS stedi_side FROM {added_rows}{only}) AS sides\n"
            f"GROUP BY {', '.join([names, *signs.values()])} HAVING SUM(stedi_side) <> 0")


def changed_keys_sql(recompute: Recompute, read: dict[str, list[tuple[str, str]]],
                     where: dict[str, str] | None = None) -> str:
    """The keys `recompute` selects, each once. Its query reads each input's changed rows as
    ``<input>__changed``, in the columns of `read` (input -> the columns the rule reads of it): the
    rows of its files added since the table was built and of those removed, that the other side
    lacks (floats as text), among those meeting the input's condition in `where`, if any."""
    where = where or {}
    queries = [f"{changed(name)} AS ({rows_differing_sql(columns, removed(name), added(name), where.get(name))})"
               for name, columns in read.items() if columns]
    queries.append(f"changed_keys AS ({recompute.sql})")
    return f"WITH {', '.join(queries)}\nSELECT DISTINCT {quote(recompute.key)} FROM changed_keys"


def recompute_sql(rule: str, table: str, recompute: Recompute) -> str:
    """The rows of `table` with those of the keys in the table `changed_keys` (see
    `changed_keys_sql`) computed anew by `rule`. (The keys are a table, written first: a query in
    their place left DuckDB without an estimate of how few they are, and it hashed the readings.)"""
    key = quote(recompute.key)
    keys = f"SELECT {key} FROM changed_keys"
    restricted = {recompute.input: f"SELECT * FROM {recompute.input} WHERE {key} IN ({keys})"}
    for name, column, values in recompute.narrowed:
        restricted[name] = f"SELECT * FROM {name} WHERE {quote(column)} IN ({_replace_tables(values, restricted)})"
    return (
        f"SELECT * FROM {table} WHERE {key} NOT IN ({keys})\n"
        f"UNION ALL\nSELECT * FROM ({_replace_tables(rule, restricted)}) AS recomputed"
    )


def _replace_tables(sql: str, replacements: dict[str, str]) -> str:
    """`sql` reading, wherever it read table `name`, the table or query `replacements[name]`."""

    def replace(node):
        if isinstance(node, exp.Table) and node.name in replacements:
            alias = node.args.get("alias") or exp.TableAlias(this=exp.to_identifier(node.name))
            replacement = replacements[node.name]
            if replacement.isidentifier():
                return exp.to_table(replacement).as_(alias.this)
            return exp.Subquery(this=sqlglot.parse_one(replacement, read="duckdb"), alias=alias)
        return node

    return parsed(sql).transform(replace).sql(dialect="duckdb")  # transform works on a copy
