"""A full disk during ``ingest_sequential``, as a user meets it (manage.py in a subprocess, real QuestDB and
PostgreSQL, each folder that fills a real small filesystem): the run stops with one message naming what
filled up, files already committed stay done, the others stay where they were, no scratch or import file is
left behind, and a rerun once space is freed ends with exactly the source data."""

import shutil
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import pytest
from django.conf import settings

from feefifofunds.store import binding, client, schema, server
from tests.support.archive import candle_lines, write_file, write_zip
from tests.support.disks import fill, grow, small_disk
from tests.support.store import count, parsed, stored, unbound_afterwards  # noqa: F401 - a fixture

pytestmark = pytest.mark.django_db(transaction=True)
REPO = Path(__file__).resolve().parents[2]
JAN_2015 = 1_420_070_400  # 2015-01-01 00:00 UTC
HOUR = 3600


def manage(env, *args, command="ingest_sequential", timeout=300):
    return subprocess.run([sys.executable, "manage.py", command, *args], cwd=REPO, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)


def archive(data: Path, update_rows: int = 40_000) -> tuple[list[str], list[str]]:
    """The complete archive's file of a pair (100 hours, round 1) and a quarterly update of it (round 2),
    large enough not to fit the small filesystems: (master lines, update lines)."""
    master = candle_lines(60, 100, start=JAN_2015)
    update = candle_lines(60, update_rows, start=JAN_2015 + 96 * HOUR, price=200.0)
    write_file(data / "master_q4" / "XBTUSD_60.csv", master)
    write_file(data / "XBTUSD_60.csv", update)
    return master, update


def assert_stopped(proc, *words: str) -> None:
    """One clear message on stderr, the summary printed, no failure per file, no traceback."""
    assert proc.returncode == 1, proc.stdout + proc.stderr
    err = " ".join(proc.stderr.split())  # rich may wrap the message
    for word in words:
        assert word in err, err
    assert "Traceback" not in proc.stderr and "file(s) failed" not in proc.stderr
    assert "Summary" in proc.stdout and "run stopped" in proc.stdout and "FAILED" not in proc.stdout


def test_staging_folder_full(questdb, tmp_path, command_env):
    data = tmp_path / "data"
    master, update = archive(data)
    with small_disk(tmp_path / ".data.staging", "1m") as staging:
        proc = manage(command_env, "--data-dir", str(data), "--yes")
        assert_stopped(proc, f"the staging folder {staging} (filesystem {staging}", "is full: free space there and "
                       "run again; nothing committed is lost")
        assert not list(staging.iterdir())  # the scratch copy is gone
        assert stored() == parsed(master)  # round 1 was committed, and it stays done
        assert (tmp_path / "ingested" / "ohlcv" / "master_q4" / "XBTUSD_60.csv").exists()
        assert (data / "XBTUSD_60.csv").exists()

        grow(staging, "64m")
        again = manage(command_env, "--data-dir", str(data), "--yes")
        assert again.returncode == 0, again.stdout + again.stderr
    assert stored() == parsed(master) | parsed(update) and count() == len(parsed(master) | parsed(update))
    assert not list(data.rglob("*.csv"))


def test_parquet_import_folder_full(questdb, tmp_path, command_env, questdb_server):
    data = tmp_path / "data"
    master, update = archive(data)
    below_copy_root = Path(questdb_server.import_dir) / f"small-{uuid.uuid4().hex[:8]}"
    with small_disk(below_copy_root, "256k") as imports:
        env = dict(command_env, QUESTDB_IMPORT_DIR=str(imports))
        proc = manage(env, "--data-dir", str(data), "--yes")
        assert "Write path: Parquet files read by QuestDB" in proc.stdout
        assert_stopped(proc, f"the Parquet import folder {imports} (filesystem {imports}", "is full")
        assert not list(imports.iterdir())  # no import file left behind
        assert stored() == parsed(master) and (data / "XBTUSD_60.csv").exists()

        grow(imports, "64m")
        again = manage(env, "--data-dir", str(data), "--yes")
        assert again.returncode == 0, again.stdout + again.stderr
        assert not list(imports.iterdir())
    below_copy_root.rmdir()
    assert stored() == parsed(master) | parsed(update)
    assert not list(data.rglob("*.csv"))


def test_ingested_folder_full(questdb, tmp_path, command_env):
    """The ingested folder on another filesystem: the move is a copy that runs out of space."""
    data = tmp_path / "data"
    master, update = archive(data)
    original = (data / "XBTUSD_60.csv").read_bytes()
    with small_disk(tmp_path / "ingested", "64k") as ingested:
        proc = manage(command_env, "--data-dir", str(data), "--yes")
        assert_stopped(proc, f"the ingested folder {ingested / 'ohlcv'} (filesystem {ingested}", "is full",
                       "files not moved stay where they are; the next run sends them again")
        assert [p.relative_to(ingested) for p in ingested.rglob("*.csv")] == [Path("ohlcv/master_q4/XBTUSD_60.csv")]
        assert (data / "XBTUSD_60.csv").read_bytes() == original  # in place, whole
        assert stored() == parsed(master) | parsed(update)  # its rows were committed before the move

        grow(ingested, "64m")
        again = manage(command_env, "--data-dir", str(data), "--yes")
        assert again.returncode == 0, again.stdout + again.stderr
        assert (ingested / "ohlcv" / "XBTUSD_60.csv").read_bytes() == original
    assert stored() == parsed(master) | parsed(update) and not list(data.rglob("*.csv"))


def test_lock_folder_full_changes_nothing(questdb, tmp_path, command_env):
    data = tmp_path / "data"
    write_file(data / "XBTUSD_60.csv", candle_lines(60, 5))
    with small_disk(tmp_path / "locks", "64k") as locks:
        fill(locks)
        proc = manage(dict(command_env, FEEFIFOFUNDS_LOCK_DIR=str(locks)), "--data-dir", str(data), "--yes")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"the lock folder {locks} (filesystem {locks}" in proc.stderr and "nothing was done" in proc.stderr
    assert count() == 0 and (data / "XBTUSD_60.csv").exists()


def sqlite_stored(catalog: Path, ticker: str) -> dict[int, tuple]:
    """A series as stored, its asset id read from a SQLite catalog (not the suite's)."""
    with closing(sqlite3.connect(catalog)) as conn:
        [(asset_id,)] = conn.execute("SELECT id FROM feefifofunds_asset WHERE ticker = ?", (ticker,)).fetchall()
    return stored(asset_id=asset_id)


def test_catalog_full(questdb, tmp_path, command_env, unbound_afterwards):  # noqa: F811
    """A SQLite catalog on a filesystem that fills: first when a zip member is recorded done (an empty member,
    recorded before anything is sent), then when the spans about to be sent are noted."""
    data = tmp_path / "data"
    xbt, eth = candle_lines(60, 300, start=JAN_2015), candle_lines(60, 300, start=JAN_2015, price=50.0)
    write_zip(data / "Kraken_OHLCVT.zip", {"XBTUSD_60.csv": xbt[:100], "ETHUSD_60.csv": eth[:100]})
    with small_disk(tmp_path / "catalog", "16m") as folder:
        catalog = folder / "catalog.sqlite3"
        env = dict(command_env, DATABASE_URL=f"sqlite:///{catalog}")
        migrated = manage(env, "--verbosity", "0", command="migrate")
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        first = manage(env, "--data-dir", str(data), "--yes")
        assert first.returncode == 0, first.stdout + first.stderr  # the assets exist from here on

        # The daily member is empty: it is recorded done as soon as it is read, before any row is sent.
        write_zip(data / "Kraken_OHLCVT_Q1_2026.zip", {"XBTUSD_1440.csv": b"", "XBTUSD_60.csv": xbt[100:200],
                                                       "ETHUSD_60.csv": eth[100:200]})
        filler = fill(folder)
        proc = manage(env, "--data-dir", str(data), "--yes")
        assert_stopped(proc, f"the catalog {catalog} (filesystem {folder}", "is full",
                       "zip members not recorded are read again by the next run")
        assert (data / "Kraken_OHLCVT_Q1_2026.zip").exists() and count() == 200
        filler.unlink()
        again = manage(env, "--data-dir", str(data), "--yes")
        assert again.returncode == 0, again.stdout + again.stderr
        assert not (data / "Kraken_OHLCVT_Q1_2026.zip").exists()

        write_zip(data / "Kraken_OHLCVT_Q2_2026.zip", {"XBTUSD_60.csv": xbt[200:], "ETHUSD_60.csv": eth[200:]})
        filler = fill(folder)
        proc = manage(env, "--data-dir", str(data), "--yes")
        assert_stopped(proc, f"the catalog {catalog} (filesystem {folder}", "is full")
        assert (data / "Kraken_OHLCVT_Q2_2026.zip").exists() and count() == 400  # nothing sent unnoted
        filler.unlink()
        again = manage(env, "--data-dir", str(data), "--yes")
        assert again.returncode == 0, again.stdout + again.stderr
        assert not list(data.glob("*.zip"))
        assert sqlite_stored(catalog, "BTC") == parsed(xbt) and sqlite_stored(catalog, "ETH") == parsed(eth)
        assert count() == 600
        with closing(sqlite3.connect(catalog)) as conn:
            assert conn.execute("SELECT count(*) FROM feefifofunds_zipmemberdone").fetchone() == (7,)


# --- QuestDB's own disk --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def questdb_small_disk(tmp_path_factory, django_db_setup, django_db_blocker):
    """A QuestDB of its own whose root is on a small tmpfs (a new server with its tables takes ~250 MiB: its
    files grow in 16 MiB pages; the test fills the rest as it needs). Its import folder is on the big disk."""
    base = tmp_path_factory.mktemp("questdb-small")
    imports = Path(tempfile.mkdtemp(prefix="fff-small-import-"))
    jar = server.ensure_jar(REPO / ".state" / "questdb" / "jars")
    with small_disk(base / "root", "512m") as root:
        ports = server.Ports.free()
        proc = server.start(root / "db", ports, jar, heap="512m", copy_root=imports)
        try:
            config = replace(settings.QUESTDB_DATABASES["questdb"], http_port=ports.http, pg_port=ports.pg,
                             ilp_port=ports.ilp, import_dir=str(imports))
            settings.QUESTDB_DATABASES["small"] = config
            schema.create_table("small")
            schema.enable_dedup("small")
            client.execute(binding.CREATE_TABLE_SQL, alias="small")
            yield root, config
        finally:
            settings.QUESTDB_DATABASES.pop("small", None)
            server.stop(proc.pid)
    shutil.rmtree(imports, ignore_errors=True)


def test_questdb_disk_full(questdb_small_disk, tmp_path, command_env):
    """QuestDB refuses a commit it has no room for ("[28] No space left", over ILP "errno: 28": nothing of it
    is stored); with room for the commit's WAL but not for applying it, it acknowledges the commit and
    suspends the table; once space is freed, the next run resumes the table and the store holds exactly the
    file."""
    root, config = questdb_small_disk
    env = dict(command_env, QUESTDB_HTTP_PORT=str(config.http_port), QUESTDB_PG_PORT=str(config.pg_port),
               QUESTDB_ILP_PORT=str(config.ilp_port), QUESTDB_IMPORT_DIR=config.import_dir)
    data, empty = tmp_path / "data", tmp_path / "empty"
    empty.mkdir()
    bound = manage(env, "--data-dir", str(empty), "--yes")  # the store adopts the catalog first
    assert bound.returncode == 0, bound.stdout + bound.stderr
    lines = candle_lines(1, 100_000)  # ~13 MiB of WAL; applying it takes ~200 MiB (new partitions)
    write_file(data / "XBTUSD_1.csv", lines)

    filler = fill(root, leave=2**20)  # no room for the commit's WAL
    refused = manage(env, "--data-dir", str(data), "--yes")
    assert_stopped(refused, "QuestDB's disk is full (QuestDB alias 'questdb'", "No space left",
                   "free space on the QuestDB server's disk (its root folder) and run again; nothing committed is lost")
    assert (data / "XBTUSD_1.csv").exists() and not list(Path(config.import_dir).iterdir())
    over_ilp = manage(dict(env, QUESTDB_IMPORT_DIR=""), "--data-dir", str(data), "--yes")  # the other path
    assert "Write path: ILP over HTTP" in over_ilp.stdout
    assert_stopped(over_ilp, "QuestDB's disk is full (QuestDB alias 'questdb' at http://",
                   "errno: 28, error: No space left")
    assert (data / "XBTUSD_1.csv").exists()

    filler.unlink()
    filler = fill(root, leave=64 * 2**20)  # room for the commit's WAL, not for applying it
    suspended = manage(env, "--data-dir", str(data), "--yes")
    assert suspended.returncode == 1, suspended.stdout + suspended.stderr
    said = " ".join(suspended.stderr.split())
    assert "QuestDB's disk is full: QuestDB table 'assetprice' is SUSPENDED" in said and "No space left" in said
    assert "The rows QuestDB acknowledged wait in its WAL, nothing committed is lost" in said
    assert "then run again or run: ALTER TABLE assetprice RESUME WAL (ingest_sequential does it at its start)" in said
    assert not (data / "XBTUSD_1.csv").exists()  # acknowledged, so archived: its rows are in the WAL

    filler.unlink()
    grow(root, "1g")
    resumed = manage(env, "--data-dir", str(empty), "--yes")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "QuestDB had suspended the table assetprice" in resumed.stdout and "resumed" in resumed.stdout
    assert stored("BTC", 1, alias="small") == parsed(lines)
