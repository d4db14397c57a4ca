"""The tables live in the Iceberg catalog a user names, configured as PyIceberg users configure one
(`.pyiceberg.yaml`, `PYICEBERG_CATALOG__<NAME>__...`); without a name, in the warehouse's own."""

import pytest
from conftest import contents

from stedi import run
from stedi.cli import main
from stedi.storage import catalog as ice


@pytest.fixture
def lake_catalog(tmp_path, monkeypatch):
    """A catalog named `lake`, configured by environment variables: SQLite outside the warehouse."""
    monkeypatch.setenv("PYICEBERG_CATALOG__LAKE__TYPE", "sql")
    monkeypatch.setenv("PYICEBERG_CATALOG__LAKE__URI", f"sqlite:///{tmp_path}/lake.db")
    return tmp_path / "lake.db"


def test_a_named_catalog_holds_the_tables_in_the_database_given(generated, tmp_path, lake_catalog, salted):
    landing, _ = generated
    run(str(tmp_path / "wh"), str(landing), catalog="lake", database="research")
    assert not (tmp_path / "wh" / "catalog.db").exists()
    assert lake_catalog.exists()
    names = {name for _, name in ice.open_tables(str(tmp_path / "wh"), "lake", "research").catalog.list_tables("research")}
    assert "machine_learning_curated" in names
    run(str(tmp_path / "own"), str(landing))
    assert contents(tmp_path / "wh", catalog="lake", database="research") == contents(tmp_path / "own")


def test_an_entry_in_pyiceberg_yaml_takes_precedence_over_the_built_in_glue(generated, tmp_path, monkeypatch, capsys):
    landing, _ = generated
    (tmp_path / ".pyiceberg.yaml").write_text(
        f"catalog:\n  glue:\n    type: sql\n    uri: sqlite:///{tmp_path}/not-glue.db\n")
    monkeypatch.setenv("PYICEBERG_HOME", str(tmp_path))
    assert main(["run", "--source", str(landing), "--warehouse", str(tmp_path / "wh"), "--catalog", "glue"]) == 0
    assert (tmp_path / "not-glue.db").exists()
    assert main(["query", "--warehouse", str(tmp_path / "wh"), "--catalog", "glue",
                 "SELECT COUNT(*) > 0 AS built FROM stedi.customer_trusted"]) == 0
    assert capsys.readouterr().out.endswith("built\n-----\nTrue\n")


def test_a_warehouse_built_in_a_named_catalog_is_not_found_in_its_own(generated, tmp_path, lake_catalog, capsys):
    landing, _ = generated
    run(str(tmp_path / "wh"), str(landing), catalog="lake")
    assert main(["tables", "--warehouse", str(tmp_path / "wh")]) == 1
    assert "is not a stedi warehouse yet" in capsys.readouterr().err
    assert main(["tables", "--warehouse", str(tmp_path / "wh"), "--catalog", "lake", "--database", "other"]) == 1
    assert "is not a stedi warehouse yet" in capsys.readouterr().err
