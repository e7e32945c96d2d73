"""The catalog binding as a user meets it: a store filled with one catalog is refused by another (a fresh SQLite
catalog, as after a reset or a move), every price command says why and changes nothing; the first meeting
adopts; ``bind_store --adopt`` rebinds. Real processes, real QuestDB, PostgreSQL and SQLite."""

import subprocess
import sys
from pathlib import Path

import pytest

from feefifofunds.models import CatalogIdentity
from feefifofunds.store import binding, client
from tests.support.archive import copy_real_samples
from tests.support.store import unbound_afterwards  # noqa: F401 - a fixture

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("unbound_afterwards")]
REPO = Path(__file__).resolve().parents[2]


def manage(env, *args, timeout=180):
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)


def count() -> int:
    client.wait_for_wal("assetprice")
    return client.query("SELECT count() FROM assetprice")[0][0]


def records() -> list[tuple]:
    return client.query(f"SELECT catalog_id, how FROM {binding.TABLE} ORDER BY bound_at")


@pytest.fixture
def catalog_b(command_env, tmp_path):
    """The environment of a second catalog: a fresh SQLite file, migrated, on the same QuestDB; its id."""
    env = {**command_env, "DATABASE_URL": f"sqlite:///{tmp_path / 'catalog-b.sqlite3'}"}
    proc = manage(env, "migrate", "--verbosity", "0")
    assert proc.returncode == 0, proc.stderr
    shown = manage(env, "bind_store")
    line = next(x for x in shown.stdout.splitlines() if x.startswith("This catalog: "))
    return env, line.split()[2]


def fill_with_catalog_a(command_env, tmp_path) -> str:
    data = tmp_path / "data"
    copy_real_samples(data)
    proc = manage(command_env, "ingest_sequential", "--data-dir", str(data), "--yes")
    assert proc.returncode == 0, proc.stderr
    assert count() == 1200
    return str(CatalogIdentity.objects.get().catalog_id)


PRICE_COMMANDS = [
    ("price_summary",),
    ("export_prices", "{tmp}/out.csv", "--ticker", "BTC", "--interval", "1440"),
    ("load_prices", "--ticker", "BTC", "--source", "massive", "--days", "1"),
    ("backfill_prices", "--ticker", "BTC", "--source", "massive", "--days", "1"),
    ("backfill_kraken_gaps", "--dry-run"),
    ("backfill_kraken_gaps", "--yes"),
]


def test_the_first_meeting_adopts_the_store(questdb, command_env):
    assert records() == []
    proc = manage(command_env, "price_summary")
    assert proc.returncode == 0, proc.stderr
    this = str(CatalogIdentity.objects.get().catalog_id)
    assert records() == [(this, binding.FIRST_MEETING)]
    shown = manage(command_env, "bind_store")
    assert shown.returncode == 0, shown.stderr
    assert f"This catalog: {this} (postgresql" in shown.stdout
    assert f"catalog {this}" in shown.stdout and "(first meeting)" in shown.stdout


def test_another_catalog_is_refused_by_every_price_command_and_changes_nothing(questdb, command_env, catalog_b,
                                                                              tmp_path):
    a = fill_with_catalog_a(command_env, tmp_path)
    env_b, b = catalog_b
    assert a != b
    before = records()
    assert before == [(a, binding.FIRST_MEETING)]
    data_b = tmp_path / "data-b"
    copy_real_samples(data_b)
    for args in [("ingest_sequential", "--data-dir", str(data_b), "--yes"), *PRICE_COMMANDS]:
        proc = manage(env_b, *(arg.format(tmp=tmp_path) for arg in args))
        assert proc.returncode == 1, (args, proc.stdout, proc.stderr)
        err = proc.stderr
        assert "belongs to another catalog" in err and a in err and b in err, (args, err)
        assert "DATABASE_URL" in err and "manage.py bind_store --adopt" in err, (args, err)
        assert "Traceback" not in err, (args, err)
    assert count() == 1200 and records() == before
    assert len(list(data_b.glob("*.csv"))) == 4  # nothing ingested, nothing moved
    assert not (tmp_path / "out.csv").exists()
    shown = manage(env_b, "bind_store")
    assert shown.returncode == 1 and a in shown.stdout and b in shown.stdout
    # The catalog that filled the store still works.
    assert manage(command_env, "price_summary").returncode == 0


def test_bind_store_adopt_rebinds(questdb, command_env, catalog_b, tmp_path):
    a = fill_with_catalog_a(command_env, tmp_path)
    env_b, b = catalog_b
    proc = manage(env_b, "bind_store", "--adopt")
    assert proc.returncode == 0, proc.stderr
    assert f"was: catalog {a}" in proc.stdout and f"is now: catalog {b}" in proc.stdout
    assert records()[-1] == (b, binding.ADOPTED)
    assert manage(env_b, "price_summary").returncode == 0
    refused = manage(command_env, "price_summary")  # now catalog A is the other one
    assert refused.returncode == 1 and a in refused.stderr and b in refused.stderr
    assert count() == 1200


def test_an_empty_store_is_adopted_silently(questdb, command_env, catalog_b):
    assert manage(command_env, "price_summary").returncode == 0  # bound to A, no rows
    env_b, b = catalog_b
    proc = manage(env_b, "price_summary")
    assert proc.returncode == 0, proc.stderr
    assert records()[-1] == (b, binding.EMPTY_STORE)


def test_a_flushed_catalog_is_another_catalog(questdb, command_env, tmp_path):
    a = fill_with_catalog_a(command_env, tmp_path)
    CatalogIdentity.objects.all().delete()  # what `manage.py flush` does to it: the asset ids start over
    proc = manage(command_env, "price_summary")
    assert proc.returncode == 1 and a in proc.stderr and "belongs to another catalog" in proc.stderr
    assert str(CatalogIdentity.objects.get().catalog_id) != a
