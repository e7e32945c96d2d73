import pytest

from feefifofunds.store.config import QuestDBConfig, QuestDBConfigError, local_import_dir, questdb_databases_from_env


def test_defaults_when_nothing_is_set():
    dbs = questdb_databases_from_env({})
    assert dbs == {"questdb": QuestDBConfig(import_dir=str(local_import_dir({})))}
    assert dbs["questdb"].http_port == 9000 and dbs["questdb"].pg_port == 8812 and dbs["questdb"].ilp_port == 9009


def test_default_alias_from_variables():
    dbs = questdb_databases_from_env(
        {"QUESTDB_HOST": "db.local", "QUESTDB_HTTP_PORT": "19000", "QUESTDB_PG_PORT": "18812",
         "QUESTDB_ILP_PORT": "19009", "QUESTDB_USER": "u", "QUESTDB_PASSWORD": "p"}
    )
    assert dbs["questdb"] == QuestDBConfig("db.local", 19000, 18812, 19009, "u", "p",
                                           import_dir=str(local_import_dir({})))


def test_extra_aliases():
    dbs = questdb_databases_from_env({"QUESTDB_ALIASES": "custom_questdb, archive",
                                      "QUESTDB_CUSTOM_QUESTDB_PG_PORT": "5555"})
    assert set(dbs) == {"questdb", "custom_questdb", "archive"}
    assert dbs["custom_questdb"].pg_port == 5555
    assert dbs["archive"] == QuestDBConfig()


@pytest.mark.parametrize("value", ["abc", "0", "70000"])
def test_bad_port_names_the_variable(value):
    with pytest.raises(QuestDBConfigError, match="QUESTDB_PG_PORT"):
        questdb_databases_from_env({"QUESTDB_PG_PORT": value})


def test_bad_alias_name():
    with pytest.raises(QuestDBConfigError, match="QUESTDB_ALIASES"):
        questdb_databases_from_env({"QUESTDB_ALIASES": "bad-alias"})


def test_password_not_in_description():
    assert "secret" not in QuestDBConfig(password="secret").describe()


def test_settings_module_reads_database_url(monkeypatch):
    import importlib

    import feefifofunds_project.settings as s

    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@h:5433/cat")
    monkeypatch.setenv("QUESTDB_HTTP_PORT", "19999")
    try:
        mod = importlib.reload(s)
        assert mod.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
        assert mod.DATABASES["default"]["PORT"] == 5433
        assert mod.QUESTDB_DATABASES["questdb"].http_port == 19999
        monkeypatch.delenv("DATABASE_URL")
        mod = importlib.reload(s)
        assert mod.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
    finally:
        monkeypatch.undo()
        importlib.reload(s)


def test_durable_commit_mode_for_the_local_server(monkeypatch):
    from feefifofunds.store import server

    ports = server.Ports(1, 2, 3, 4)
    monkeypatch.delenv("FEEFIFOFUNDS_QUESTDB_COMMIT_MODE", raising=False)
    assert server.server_env(ports)["QDB_CAIRO_COMMIT_MODE"] == "nosync"
    monkeypatch.setenv("FEEFIFOFUNDS_QUESTDB_COMMIT_MODE", "SYNC")
    assert server.server_env(ports)["QDB_CAIRO_COMMIT_MODE"] == "sync"
    monkeypatch.setenv("FEEFIFOFUNDS_QUESTDB_COMMIT_MODE", "always")
    with pytest.raises(server.ServerError, match="expected one of nosync, async, sync"):
        server.server_env(ports)


def test_the_default_alias_imports_through_the_local_servers_folder(tmp_path):
    dbs = questdb_databases_from_env({"FEEFIFOFUNDS_STATE_DIR": str(tmp_path / "x" / ".." / "state")})
    assert dbs["questdb"].import_dir == str(tmp_path / "state" / "questdb" / "import")
    assert dbs["questdb"].server_import_dir == dbs["questdb"].import_dir
    off = questdb_databases_from_env({"QUESTDB_IMPORT_DIR": ""})["questdb"]
    assert off.import_dir == "" and off.server_import_dir == ""


def test_import_folders_per_alias(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    dbs = questdb_databases_from_env({"QUESTDB_ALIASES": "archive,other", "QUESTDB_ARCHIVE_IMPORT_DIR": "shared",
                                      "QUESTDB_ARCHIVE_IMPORT_DIR_SERVER": "/var/lib/questdb/import"})
    archive = dbs["archive"]
    assert archive.import_dir == str(tmp_path / "shared")
    assert archive.server_import_dir == "/var/lib/questdb/import"
    assert dbs["other"].import_dir == ""  # only the default alias has a folder without being told


def test_the_server_side_folder_must_be_absolute():
    with pytest.raises(QuestDBConfigError, match="QUESTDB_IMPORT_DIR_SERVER='import' is not an absolute path"):
        questdb_databases_from_env({"QUESTDB_IMPORT_DIR_SERVER": "import"})


def test_servers_started_here_get_a_copy_root(tmp_path):
    from feefifofunds.store import server

    ports = server.Ports(1, 2, 3, 4)
    assert server.server_env(ports, copy_root=tmp_path)["QDB_CAIRO_SQL_COPY_ROOT"] == str(tmp_path)
