"""Real services for the whole suite: a throwaway QuestDB and (unless DATABASE_URL is set) PostgreSQL."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import dj_database_url
import pytest

from feefifofunds.store import binding, client, kept, schema, server
from feefifofunds.store.config import QuestDBConfig
from tests.support import postgres

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def questdb_server():
    """A real QuestDB server on free loopback ports, with a data directory and a Parquet import folder (its
    copy root) of its own."""
    jar = server.ensure_jar(REPO / ".state" / "questdb" / "jars")
    root = Path(tempfile.mkdtemp(prefix="fff-questdb-"))
    imports = root / "import"
    ports = server.Ports.free()
    proc = server.start(root, ports, jar, heap="1g", copy_root=imports)
    yield QuestDBConfig(host="127.0.0.1", http_port=ports.http, pg_port=ports.pg, ilp_port=ports.ilp,
                        import_dir=str(imports))
    server.stop(proc.pid)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url():
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    cluster = postgres.start()
    yield cluster.url
    postgres.stop(cluster)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(questdb_server, postgres_url):
    """Point the catalog at PostgreSQL and the `questdb` alias at the throwaway QuestDB, before migrating."""
    from django.conf import settings
    from django.db import connections

    parsed = dj_database_url.parse(postgres_url)
    settings.DATABASES["default"].clear()
    settings.DATABASES["default"].update(parsed)
    settings.DATABASES["default"].setdefault("TEST", {})
    settings.QUESTDB_DATABASES["questdb"] = questdb_server
    # A second alias on the same server, to exercise --database.
    settings.QUESTDB_DATABASES["custom_questdb"] = replace(questdb_server)
    # An alias where nothing listens, to exercise unreachable-server handling.
    settings.QUESTDB_DATABASES["unreachable"] = QuestDBConfig(http_port=1, pg_port=1, ilp_port=1)
    connections.__dict__.pop("settings", None)
    connections["default"].close()
    del connections["default"]  # re-created from the new settings on next use
    assert connections["default"].vendor == "postgresql"


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The migrated test catalog keeps the identity its migration gave it for the whole session.

    It is one catalog for the whole suite (a test's flush empties it but never reuses an asset id), so the
    store stays bound to it: the identity row is put back after every flush (and after a test that migrates
    backwards and forwards), through the ``post_migrate`` signal both send.
    """
    from django.apps import apps as global_apps
    from django.db.models.signals import post_migrate

    from feefifofunds.models import CatalogIdentity

    with django_db_blocker.unblock():
        identity = CatalogIdentity.objects.get().catalog_id

    def restore(sender, using="default", apps=global_apps, **kwargs):
        if sender.name != "feefifofunds":
            return
        try:
            model = apps.get_model("feefifofunds", "CatalogIdentity")
        except LookupError:  # migrated back before the identity existed
            return
        model.objects.using(using).update_or_create(pk=1, defaults={"catalog_id": identity})

    post_migrate.connect(restore, weak=False, dispatch_uid="tests-catalog-identity")
    yield
    post_migrate.disconnect(dispatch_uid="tests-catalog-identity")


@pytest.fixture
def questdb(django_db_setup, django_db_blocker):
    """An empty `assetprice` table (created by the migrations), bound to no catalog yet as in a new
    installation (the test's first command or request adopts it), its kept gaps built (empty), for one test;
    yields the alias."""
    client.execute(f"TRUNCATE TABLE {schema.TABLE}")
    client.execute(f"TRUNCATE TABLE {binding.TABLE}")
    binding.forget_checks()
    client.wait_for_wal(schema.TABLE)
    with django_db_blocker.unblock():  # the kept gaps of the emptied table: built, nothing in them
        kept.forget("questdb")
        kept.prepare("questdb")
    return "questdb"


@pytest.fixture
def command_env(questdb_server, django_db_setup):
    """Environment for running manage.py in a subprocess against the test databases."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        QUESTDB_HOST=questdb_server.host,
        QUESTDB_HTTP_PORT=str(questdb_server.http_port),
        QUESTDB_PG_PORT=str(questdb_server.pg_port),
        QUESTDB_ILP_PORT=str(questdb_server.ilp_port),
        QUESTDB_IMPORT_DIR=questdb_server.import_dir,
        DJANGO_SETTINGS_MODULE="feefifofunds_project.settings",
    )
    return env


@pytest.fixture(scope="session", autouse=True)
def collected_static():
    """Pages name their static files by content hash (as `make serve` serves them): collect them once, for
    every test that renders a page (the dashboard tests, and the gap tests that look at the asset list)."""
    from django.core.management import call_command

    call_command("collectstatic", interactive=False, verbosity=0)
