"""Database configuration: embedded default, project file, env file, jobflow's config.

No MongoDB server exists here; the production configuration is checked by building the
stores (pymongo connects lazily) and reading their settings back.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from maggma.stores import GridFSStore, MemoryStore, MongoStore, MontyStore

from interphases.config import project_dir
from interphases.database import load_config, open_database, parse_config
from interphases.database.config import EXAMPLE_EMBEDDED, EXAMPLE_MONGODB
from interphases.database.sqlite_store import SQLiteStore
from interphases.database.store import ProjectMontyStore
from interphases.errors import DatabaseError


def test_default_is_embedded_in_project_folder(monkeypatch):
    monkeypatch.delenv("JOBFLOW_CONFIG_FILE", raising=False)
    monkeypatch.delenv("INTERPHASES_DB_CONFIG", raising=False)
    config = load_config()
    assert config.type == "embedded" and config.embedded_storage() == "sqlite"
    assert config.embedded_path() == project_dir() / "database"
    db = open_database(config)
    assert isinstance(db.jobstore.docs_store, SQLiteStore) and not db.legacy
    assert set(db.jobstore.additional_stores) == {"data"}
    assert not db.scan
    # every collection exists right after initialisation: one indexed sqlite file each
    names = {p.name for p in config.embedded_path().glob("*.sqlite")}
    assert {
        "outputs.sqlite",
        "outputs_data.sqlite",
        "interphases_summary.sqlite",
        "interphases_results.sqlite",
    } <= names
    db.close()


def test_legacy_montydb_folder_is_still_opened_with_montydb(tmp_path):
    config = parse_config({"type": "embedded", "path": str(tmp_path / "old"), "storage": "montydb"})
    db = open_database(config)
    assert isinstance(db.jobstore.docs_store, ProjectMontyStore) and db.legacy and db.scan
    db.close()
    # the folder now holds montydb files and no sqlite store: found without "storage"
    auto = parse_config({"type": "embedded", "path": str(tmp_path / "old")})
    assert auto.embedded_storage() == "montydb"


def test_project_yaml_relative_path(tmp_path):
    proj = project_dir()
    proj.mkdir(parents=True, exist_ok=True)
    (proj / "interphases.yaml").write_text("database:\n  type: embedded\n  path: db2\n")
    config = load_config()
    assert config.source == str(proj / "interphases.yaml")
    assert config.embedded_path() == (proj / "db2").resolve()
    with open_database(config) as db:
        from interphases.database import query, save_rows

        save_rows(
            [
                {
                    "kind": "k",
                    "formulas": "Li",
                    "value": 1.0,
                    "units": "eV",
                    "engine": "ase",
                    "model": "EMT",
                }
            ],
            database=db,
        )
        assert query("k", database=db)["value"].tolist() == [1.0]
    assert (proj / "db2" / "interphases_summary.sqlite").is_file()


def test_mongodb_production_config_builds_mongo_and_gridfs(monkeypatch, tmp_path):
    path = tmp_path / "prod.yaml"
    path.write_text(EXAMPLE_MONGODB)
    monkeypatch.setenv("INTERPHASES_DB_CONFIG", str(path))
    config = load_config()
    assert config.type == "jobstore" and config.source == str(path)
    db = open_database(config, init=False)  # no server: build only
    docs, data = db.jobstore.docs_store, db.jobstore.additional_stores["data"]
    assert type(docs) is MongoStore and isinstance(data, GridFSStore)
    assert (docs.host, docs.port, docs.database, docs.collection_name) == (
        "mongo.example.org",
        27017,
        "interphases",
        "outputs",
    )
    assert data.collection_name == "outputs_blobs"
    # summary and run log: same server, database and credentials, their own collections
    for store, name in ((db.summary, "interphases_summary"), (db.results, "interphases_results")):
        assert type(store) is MongoStore
        assert (store.host, store.database, store.username, store.password) == (
            "mongo.example.org",
            "interphases",
            "interphases",
            "change-me",
        )
        assert store.collection_name == name
    assert db.summary.key == "row_id"
    assert not db.scan  # filters go to the server


def test_explicit_summary_store_and_s3_style_spec(tmp_path):
    block = yaml.safe_load(EXAMPLE_MONGODB)["database"]
    block["summary_store"] = {
        "type": "MongoStore",
        "database": "other",
        "collection_name": "rows",
        "host": "h2",
    }
    block["summary_collection"] = "ignored_when_store_given"
    db = open_database(parse_config(block, source="test"), init=False)
    assert (db.summary.host, db.summary.database, db.summary.collection_name) == (
        "h2",
        "other",
        "rows",
    )
    assert db.results.collection_name == "interphases_results"


def test_jobflow_config_file_is_used(monkeypatch, tmp_path):
    jf = tmp_path / "jobflow.yaml"
    jf.write_text(
        yaml.safe_dump(
            {"JOB_STORE": {"docs_store": {"type": "MemoryStore", "collection_name": "jf_outputs"}}}
        )
    )
    monkeypatch.setenv("JOBFLOW_CONFIG_FILE", str(jf))
    config = load_config()
    assert config.type == "jobflow"
    db = open_database(config)
    assert isinstance(db.jobstore.docs_store, MemoryStore)
    assert db.jobstore.docs_store.collection_name == "jf_outputs"
    assert (
        isinstance(db.summary, MemoryStore) and db.summary.collection_name == "interphases_summary"
    )
    assert not isinstance(db.summary, MontyStore) and not db.scan


@pytest.mark.parametrize(
    "text, message",
    [
        ("database: [1, 2]", "mapping"),
        ("database:\n  type: jobstore\n", "jobstore"),
        ("database:\n  type: nosuch\n", "type"),
        ("database:\n  storage: flatfile\n", "storage"),
        ("database:\n  storage: lightning\n", "storage"),
        ("database: {type: embedded, path: x, colour: red}", "colour"),
        ("database:\n  jobstore: {docs_store: {type: NoSuchStore}}\n", "JobStore"),
        ("database: {: :", "YAML"),
    ],
)
def test_bad_config_is_one_clear_error(monkeypatch, tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    monkeypatch.setenv("INTERPHASES_DB_CONFIG", str(path))
    with pytest.raises(DatabaseError, match=message) as info:
        open_database(load_config(), init=False)
    assert "\n" not in str(info.value)


def test_missing_config_file(monkeypatch, tmp_path):
    monkeypatch.setenv("INTERPHASES_DB_CONFIG", str(tmp_path / "nope.yaml"))
    with pytest.raises(DatabaseError, match="not found"):
        load_config()


def test_examples_parse():
    assert parse_config(yaml.safe_load(EXAMPLE_EMBEDDED)["database"]).type == "embedded"
    assert parse_config(yaml.safe_load(EXAMPLE_MONGODB)["database"]).type == "jobstore"


def test_code_has_no_montydb_calls_outside_the_embedded_store():
    """The production path must not depend on montydb: only store.py may import it."""
    src = Path(__file__).resolve().parents[2] / "src" / "interphases"
    offenders = [
        p.relative_to(src).as_posix()
        for p in list((src / "database").glob("*.py")) + list((src / "cluster").glob("*.py"))
        if re.search(r"^\s*(import|from) montydb", p.read_text(), re.M) and p.name != "store.py"
    ]
    assert offenders == []


def test_mongodb_stores_get_their_indexes():
    """On a MongoDB-like store (maggma MemoryStore: mongomock), init creates the key indexes, blob_uuid included."""
    from jobflow import JobStore

    store = JobStore(
        MemoryStore("ix_outputs"), additional_stores={"data": MemoryStore("ix_blobs")}
    )
    db = open_database(parse_config({"type": "jobstore", "jobstore": store.as_dict()}))
    data = db.jobstore.additional_stores["data"]._collection.index_information()
    blob = [v for v in data.values() if v["key"] == [("blob_uuid", 1)]]
    assert blob and blob[0].get("unique")
    docs = db.jobstore.docs_store._collection.index_information()
    assert any(v["key"] == [("uuid", 1), ("index", 1)] and v.get("unique") for v in docs.values())
    summary = db.summary._collection.index_information()
    assert any(v["key"] == [("row_id", 1)] and v.get("unique") for v in summary.values())
    db.close()
