"""A local warehouse that was moved or copied: its tables re-pointed to the folder it is in now.

Iceberg records absolute locations: the catalog names each table's metadata file, which names
its manifest lists, which name manifests, which name data files. When the embedded catalog names
a table's files under another folder than the warehouse's (after ``mv`` or ``cp -a``), each such
table is rewritten as Iceberg's rewrite-table-path does it: new metadata, manifest lists and
manifests beside the old ones, naming the same snapshots and data files under the new root; then
one catalog transaction re-points every table to them. Until it commits nothing has changed (an
interrupted relocation is done again); once it has, the warehouse names no file outside itself,
so a copy and its original go on apart.
"""

from uuid import uuid4

from pyiceberg.catalog import MetastoreCatalog
from pyiceberg.catalog.sql import IcebergTables, SqlCatalog
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.io import FileIO, load_file_io
from pyiceberg.manifest import (DATA_FILE_TYPE, DEFAULT_READ_VERSION, MANIFEST_LIST_FILE_SCHEMAS, ManifestFile,
                                read_manifest_list, write_manifest, write_manifest_list)
from pyiceberg.serializers import FromInputFile, ToOutputFile
from pyiceberg.table import TableProperties
from pyiceberg.table.locations import LocationProvider, load_location_provider
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.typedef import Record
from pyiceberg.types import StructType
from sqlalchemy import select, update
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from ..schema import TABLES
from . import files
from .embedded import moved, write_version_hint
from .s3 import StorageError


def relocate(catalog: SqlCatalog, root: str, database: str) -> None:
    """Re-point the tables of `database` whose files the catalog names outside `root`."""
    while True:
        try:
            with Session(catalog.engine) as session:
                rows = session.execute(select(IcebergTables.table_name, IcebergTables.metadata_location).where(
                    IcebergTables.catalog_name == catalog.name, IcebergTables.table_namespace == database)).all()
        except DatabaseError as error:
            if "no such table" in str(error):
                return  # a reader before the first run has created the catalog's tables
            raise
        old = {name: location for name, location in rows if moved(root, name, location)}
        if not old:
            return
        new = {name: _rewrite(catalog, root, name, location) for name, location in old.items()}
        try:
            with Session(catalog.engine) as session, session.begin():
                for name, location in old.items():
                    if session.execute(update(IcebergTables).where(
                            IcebergTables.catalog_name == catalog.name, IcebergTables.table_namespace == database,
                            IcebergTables.table_name == name, IcebergTables.metadata_location == location,
                    ).values(metadata_location=new[name], previous_metadata_location=location)).rowcount != 1:
                        raise CommitFailedException(name)
        except CommitFailedException:
            continue  # another process re-pointed a table first: look again
        for location in new.values():
            write_version_hint(location)
        return


def _rewrite(catalog: SqlCatalog, root: str, name: str, metadata_location: str) -> str:
    """Write the table `name`, whose current metadata the catalog names at `metadata_location`,
    again with every location under its recorded folder re-rooted at its folder under `root`;
    return where its new metadata is."""
    table_location = files.join(root, TABLES[name].location)
    recorded = metadata_location.rsplit("/metadata/", 1)[0]

    def rerooted(location: str) -> str:
        return table_location + location[len(recorded):] if location.startswith(recorded + "/") else location

    io = load_file_io(catalog.properties, table_location)
    try:
        metadata = FromInputFile.table_metadata(io.new_input(rerooted(metadata_location)))
    except FileNotFoundError:
        raise StorageError(f"the catalog of {root} names the tables of {recorded.removesuffix('/' + TABLES[name].location)}, "
                           f"whose files are not in {root}: move or copy the whole warehouse folder") from None
    provider = load_location_provider(table_location, metadata.properties)
    codec = metadata.properties.get(TableProperties.WRITE_AVRO_COMPRESSION, TableProperties.WRITE_AVRO_COMPRESSION_DEFAULT)
    manifests: dict[str, ManifestFile] = {}  # snapshots share manifests: each is written once
    snapshots = []
    for snapshot in metadata.snapshots:
        listed = list(read_manifest_list(io.new_input(rerooted(snapshot.manifest_list))))
        for manifest in listed:
            if manifest.manifest_path not in manifests:
                manifests[manifest.manifest_path] = _rewrite_manifest(io, provider, metadata, manifest, rerooted, codec)
        manifest_list = provider.new_metadata_location(f"snap-{snapshot.snapshot_id}-0-{uuid4()}.avro")
        with write_manifest_list(metadata.format_version, io.new_output(manifest_list), snapshot.snapshot_id,
                                 snapshot.parent_snapshot_id, snapshot.sequence_number, codec) as writer:
            writer.add_manifests([manifests[manifest.manifest_path] for manifest in listed])
        snapshots.append(snapshot.model_copy(update={"manifest_list": manifest_list}))
    log = [entry.model_copy(update={"metadata_file": rerooted(entry.metadata_file)}) for entry in metadata.metadata_log]
    location = provider.new_table_metadata_file_location(MetastoreCatalog._parse_metadata_version(metadata_location) + 1)
    ToOutputFile.table_metadata(metadata.model_copy(update={"location": table_location, "snapshots": snapshots,
                                                            "metadata_log": log}), io.new_output(location))
    return location


def _rewrite_manifest(io: FileIO, provider: LocationProvider, metadata: TableMetadata, manifest: ManifestFile,
                      rerooted, codec: str) -> ManifestFile:
    """A copy of `manifest` with its data files' locations re-rooted, and the same entries."""
    location = provider.new_metadata_location(f"{uuid4()}-m0.avro")
    with write_manifest(metadata.format_version, metadata.specs()[manifest.partition_spec_id], metadata.schema(),
                        io.new_output(location), manifest.added_snapshot_id, codec) as writer:
        source = _with(manifest, MANIFEST_LIST_FILE_SCHEMAS[DEFAULT_READ_VERSION],
                       manifest_path=rerooted(manifest.manifest_path))
        for entry in source.fetch_manifest_entry(io, discard_deleted=False):
            entry.data_file = _with(entry.data_file, DATA_FILE_TYPE[DEFAULT_READ_VERSION],
                                    file_path=rerooted(entry.data_file.file_path))
            writer.add_entry(entry)
    return _with(manifest, MANIFEST_LIST_FILE_SCHEMAS[DEFAULT_READ_VERSION], manifest_path=location,
                 manifest_length=len(io.new_input(location)))


def _with(record: Record, struct: StructType, **fields) -> Record:
    """A copy of the PyIceberg `record` (of type `struct`) with some of its fields changed."""
    return type(record)(*[fields.get(field.name, record[i]) for i, field in enumerate(struct.fields)])
