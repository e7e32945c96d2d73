import pytest

from feefifofunds.store.config import QuestDBConfig, QuestDBConfigError, questdb_databases_from_env


def test_defaults_when_nothing_is_set():
    dbs = questdb_databases_from_env({})
    assert dbs == {"questdb": QuestDBConfig()}
    assert dbs["questdb"].http_port == 9000 and dbs["questdb"].pg_port == 8812 and dbs["questdb"].ilp_port == 9009


def test_default_alias_from_variables():
    dbs = questdb_databases_from_env(
        {"QUESTDB_HOST": "db.local", "QUESTDB_HTTP_PORT": "19000", "QUESTDB_PG_PORT": "18812",
         "QUESTDB_ILP_PORT": "19009", "QUESTDB_USER": "u", "QUESTDB_PASSWORD": "p"}
    )
    assert dbs["questdb"] == QuestDBConfig("db.local", 19000, 18812, 19009, "u", "p")


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
