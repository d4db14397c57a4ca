"""The warehouse: Iceberg tables with snapshots, content-deduplicated landing, idempotent reruns."""

import shutil

import duckdb
import pytest
from conftest import rows, scalar, write_landing

from stedi import run
from stedi.storage import catalog as ice
from stedi.storage.warehouse import Warehouse, WarehouseBusy
from stedi.schema import TABLES

READING = {"user": "a@x.com", "timestamp": 1, "x": 1, "y": 1, "z": 1}


def snapshots(warehouse) -> dict[str, int | None]:
    catalog = ice.open_tables(str(warehouse))
    return {name: catalog.load(name).metadata.current_snapshot_id for name in TABLES}


def test_layout_follows_the_seed_s3_layout(generated, tmp_path):
    landing, _ = generated
    run(str(tmp_path / "wh"), str(landing))
    for folder in ["customer/landing", "customer/trusted", "customer/curated", "accelerometer/landing",
                   "accelerometer/trusted", "step_trainer/landing", "step_trainer/trusted", "step_trainer/curated"]:
        assert (tmp_path / "wh" / folder).is_dir(), folder
    assert (tmp_path / "wh/step_trainer/curated/metadata").is_dir()
    assert sorted(p.name for p in (tmp_path / "wh/customer/landing").glob("*.json")) == sorted(
        p.name for p in (landing / "customer/landing").glob("*.json"))


def test_a_rerun_on_the_same_input_changes_nothing(generated, tmp_path):
    landing, _ = generated
    first = run(str(tmp_path / "wh"), str(landing))
    before = snapshots(tmp_path / "wh")
    messages = []
    second = run(str(tmp_path / "wh"), str(landing), progress=messages.append)
    assert messages == []  # nothing read, nothing built
    assert set(first.committed) == set(TABLES)
    assert second.committed == [] and second.ingested == {"customer": [], "accelerometer": [], "step_trainer": []}
    assert snapshots(tmp_path / "wh") == before


def test_a_file_with_content_already_ingested_is_not_ingested_again(tmp_path):
    write_landing(tmp_path / "a", accelerometer=[READING])
    write_landing(tmp_path / "b", accelerometer=[READING])
    (tmp_path / "b/accelerometer/landing/accelerometer-0.json").rename(tmp_path / "b/accelerometer/landing/other.json")
    run(str(tmp_path / "wh"), str(tmp_path / "a"))
    assert run(str(tmp_path / "wh"), str(tmp_path / "b")).ingested["accelerometer"] == []
    assert scalar(tmp_path / "wh", "SELECT COUNT(*) FROM accelerometer_landing") == 1


def test_a_new_file_with_a_taken_name_is_kept_under_another_name(tmp_path):
    write_landing(tmp_path / "a", accelerometer=[READING])
    write_landing(tmp_path / "b", accelerometer=[READING | {"timestamp": 2}])
    run(str(tmp_path / "wh"), str(tmp_path / "a"))
    (new,) = run(str(tmp_path / "wh"), str(tmp_path / "b")).ingested["accelerometer"]
    assert new.startswith("accelerometer-0-") and new.endswith(".json")
    assert scalar(tmp_path / "wh", "SELECT COUNT(*) FROM accelerometer_landing") == 2


def test_a_reading_of_an_unknown_user_changes_only_the_landing_table(generated, tmp_path):
    landing, _ = generated
    run(str(tmp_path / "wh"), str(landing))
    before = snapshots(tmp_path / "wh")
    write_landing(tmp_path / "more", accelerometer=[READING])
    result = run(str(tmp_path / "wh"), str(tmp_path / "more"))
    assert result.committed == ["accelerometer_landing"]
    after = snapshots(tmp_path / "wh")
    assert {name for name in TABLES if after[name] != before[name]} == {"accelerometer_landing"}


def test_every_commit_is_an_iceberg_snapshot_readable_by_any_iceberg_reader(generated, tmp_path):
    landing, truth = generated
    run(str(tmp_path / "wh"), str(landing))
    catalog = ice.open_tables(str(tmp_path / "wh"))
    table = catalog.load("machine_learning_curated")
    assert table.scan().to_arrow().num_rows == truth["rows"]["any"]["machine_learning_curated"]
    assert len(table.history()) >= 1
    metadata = table.metadata_location.removeprefix("file://")
    duckdb_count = duckdb.sql(f"SELECT COUNT(*) FROM read_parquet({ice.data_files(table)})").fetchone()[0]
    assert duckdb_count == truth["rows"]["any"]["machine_learning_curated"] and metadata.endswith(".metadata.json")


def test_the_salt_is_kept_out_of_every_table_and_stays_private(generated, tmp_path):
    landing, _ = generated
    run(str(tmp_path / "wh"), str(landing))
    salt_file = tmp_path / "wh/_stedi/salt"
    assert salt_file.stat().st_mode & 0o077 == 0
    salt = salt_file.read_bytes().strip()
    for path in (tmp_path / "wh").rglob("*"):
        if path.is_file() and path != salt_file:
            assert salt not in path.read_bytes(), path


def test_a_second_writer_is_refused_with_one_sentence(tmp_path):
    warehouse = Warehouse.at(tmp_path / "wh")
    with warehouse.lock():
        with pytest.raises(WarehouseBusy, match="another stedi run is writing to"):
            run(str(tmp_path / "wh"))


def test_a_failed_build_leaves_every_table_as_it_was(generated, tmp_path, monkeypatch):
    landing, _ = generated
    run(str(tmp_path / "wh"), str(landing))
    before = snapshots(tmp_path / "wh")
    shutil.copytree(landing, tmp_path / "more")
    write_landing(tmp_path / "more", accelerometer=[READING])

    from stedi.engines.duckdb import DuckDBEngine

    def broken(self, sql, *args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(DuckDBEngine, "write", broken)
    with pytest.raises(RuntimeError):
        run(str(tmp_path / "wh"), str(tmp_path / "more"))
    assert snapshots(tmp_path / "wh") == before


def test_a_source_file_changed_in_place_is_ingested_again_under_another_name(tmp_path):
    write_landing(tmp_path / "a", accelerometer=[READING])
    run(str(tmp_path / "wh"), str(tmp_path / "a"))
    write_landing(tmp_path / "b", accelerometer=[READING | {"timestamp": 2}])
    shutil.copyfile(tmp_path / "b/accelerometer/landing/accelerometer-0.json",
                    tmp_path / "a/accelerometer/landing/accelerometer-0.json")
    (new,) = run(str(tmp_path / "wh"), str(tmp_path / "a")).ingested["accelerometer"]
    assert new != "accelerometer-0.json"
    assert scalar(tmp_path / "wh", "SELECT COUNT(*) FROM accelerometer_landing") == 2


def test_file_names_with_quotes_and_spaces(tmp_path):
    landing = write_landing(tmp_path / "in", accelerometer=[READING, "broken"])
    (landing / "accelerometer/landing/accelerometer-0.json").rename(landing / "accelerometer/landing/o'brien 1.json")
    run(str(tmp_path / "wh"), str(landing))
    assert scalar(tmp_path / "wh", "SELECT COUNT(*) FROM accelerometer_landing") == 1
    assert rows(tmp_path / "wh", "SELECT file FROM quarantine") == [("accelerometer/landing/o'brien 1.json",)]


def test_unreadable_entries_are_reported_not_fatal_and_glob_characters_are_neutralised(tmp_path):
    landing = write_landing(tmp_path / "in", accelerometer=[READING])
    (landing / "accelerometer/landing/folder.json").mkdir()  # a folder: its files are read (it has none)
    (landing / "accelerometer/landing/gone.json").symlink_to(tmp_path / "nowhere")
    (landing / "accelerometer/landing/accelerometer-0.json").rename(landing / "accelerometer/landing/a[1]*.json")
    result = run(str(tmp_path / "wh"), str(landing))
    assert [p.split("/")[-1] for p in result.skipped] == ["gone.json is not a file"]
    assert result.ingested["accelerometer"] == ["a-1--.json"]
    assert scalar(tmp_path / "wh", "SELECT COUNT(*) FROM accelerometer_landing") == 1


def test_the_consent_policy_is_the_warehouse_s_and_changing_it_says_so(generated, tmp_path, capsys):
    from stedi.cli import main

    landing, truth = generated
    warehouse = str(tmp_path / "wh")
    assert main(["run", "--source", str(landing), "--warehouse", warehouse, "--consent-policy", "as-of"]) == 0
    capsys.readouterr()
    assert main(["run", "--warehouse", warehouse]) == 0  # a plain run keeps it
    out, err = capsys.readouterr()
    assert "committed 0 table(s)" in out and "consent policy changes" not in err
    assert scalar(tmp_path / "wh", "SELECT COUNT(*) FROM machine_learning_curated") == (
        truth["rows"]["as-of"]["machine_learning_curated"])
    assert main(["run", "--warehouse", warehouse, "--consent-policy", "any"]) == 0
    assert "the consent policy changes from as-of to any: every table built under it is rebuilt" in (
        capsys.readouterr().err)
    assert scalar(tmp_path / "wh", "SELECT COUNT(*) FROM machine_learning_curated") == (
        truth["rows"]["any"]["machine_learning_curated"])
