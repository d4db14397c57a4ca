"""Iceberg tables through PyIceberg: open the catalog, read a table's files, commit new files.

Engines write Parquet data files; this module makes them a table's content in one atomic commit,
recording the fingerprint of the inputs they were built from so an unchanged rebuild is skipped.
"""

import warnings

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.expressions import AlwaysTrue, BooleanExpression
from pyiceberg.table import Table as IcebergTable

from ..schema import NAMESPACE, TABLES, Table

ARROW_TYPES = {"VARCHAR": pa.string(), "BIGINT": pa.int64(), "DOUBLE": pa.float64(), "BOOLEAN": pa.bool_()}
FINGERPRINT = "stedi.inputs"


def open_catalog(root: str) -> Catalog:
    """The warehouse's SQL catalog, kept in SQLite beside the tables."""
    catalog = SqlCatalog("stedi", uri=f"sqlite:///{root}/catalog.db", warehouse=f"file://{root}")
    catalog.create_namespace_if_not_exists(NAMESPACE)
    return catalog


def arrow_schema(table: Table) -> pa.Schema:
    return pa.schema([(name, ARROW_TYPES[sql_type]) for name, sql_type in table.columns])


def load(catalog: Catalog, root: str, name: str, create: bool = True) -> IcebergTable | None:
    """The Iceberg table `name`, created empty on first use when `create`."""
    try:
        return catalog.load_table((NAMESPACE, name))
    except NoSuchTableError:
        if not create:
            return None
    table = TABLES[name]
    return catalog.create_table_if_not_exists(
        (NAMESPACE, name), schema=arrow_schema(table), location=f"{root}/{table.location}"
    )


def data_files(table: IcebergTable) -> list[str]:
    """Paths of the data files of the table's current snapshot."""
    return [task.file.file_path.removeprefix("file://") for task in table.scan().plan_files()]


def fingerprint(table: IcebergTable, key: str = "") -> str | None:
    return table.properties.get(FINGERPRINT + key)


def replace(
    table: IcebergTable,
    files: list[str],
    inputs: str,
    key: str = "",
    rows: BooleanExpression = AlwaysTrue(),
) -> None:
    """Replace the table's `rows` with the rows of `files` in one atomic commit."""
    with table.transaction() as tx, warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Delete operation did not match any records")
        tx.delete(rows)
        if files:
            tx.add_files(files, check_duplicate_files=False)
        tx.set_properties({FINGERPRINT + key: inputs})
