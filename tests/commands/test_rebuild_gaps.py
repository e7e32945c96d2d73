"""``rebuild_gaps`` as a user runs it (manage.py in a subprocess, real QuestDB and PostgreSQL): a store whose
prices came before its kept gaps says "gaps not built yet" everywhere, until the command builds them."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from feefifofunds.models import KeptBuild
from feefifofunds.store import kept
from tests.support.archive import candle_lines, write_file
from tests.support.kept import assert_kept_matches_scan

pytestmark = pytest.mark.django_db(transaction=True)
REPO = Path(__file__).resolve().parents[2]


def manage(env, *args, timeout=300):
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)


def test_not_built_until_the_repair_then_kept_by_every_write(questdb, tmp_path, command_env):
    data = tmp_path / "data"
    write_file(data / "XBTUSD_60.csv", candle_lines(60, 500, skip={3, 4, 90, 91, 92, 400}))
    write_file(data / "ETHUSD_1440.csv", candle_lines(1440, 60, skip={10}))
    first = manage(command_env, "ingest_sequential", "--data-dir", str(data), "--yes")
    assert first.returncode == 0, first.stdout + first.stderr
    assert_kept_matches_scan()  # a store empty at its first write is built at once

    # What a store with prices and no kept state looks like (the catalog of an older install, a reset one).
    kept.forget("questdb")
    web = Client()
    listing = web.get("/api/assets?gaps=1").json()
    assert listing["gap_detection"] is False and "gaps not built yet" in listing["gaps_note"]
    assert {c["open_gaps"] for a in listing["assets"] for c in a["coverage"]} == {None}  # never a silent zero
    gaps = web.get("/api/gaps?ticker=BTC&interval=60")
    assert gaps.status_code == 503 and gaps.json()["error"]["code"] == "gaps_not_built"
    survey = manage(command_env, "backfill_kraken_gaps", "--dry-run")
    assert survey.returncode == 1 and "gaps not built yet: run `manage.py rebuild_gaps`" in survey.stderr
    assert "Traceback" not in survey.stderr
    summary = manage(command_env, "price_summary")
    assert summary.returncode == 0 and "open gaps: gaps not built yet" in summary.stdout

    built = manage(command_env, "rebuild_gaps")
    assert built.returncode == 0, built.stdout + built.stderr
    assert "Kept gaps built: 2 series, 4 gap runs" in built.stdout
    assert KeptBuild.objects.get().built
    assert_kept_matches_scan()
    listing = web.get("/api/assets?gaps=1").json()
    assert listing["gap_detection"] is True
    assert sorted(c["open_gaps"] for a in listing["assets"] for c in a["coverage"]) == [1, 3]
    page = web.get("/api/gaps?ticker=BTC&interval=60").json()
    assert [g["missing_candles"] for g in page["gaps"]] == [2, 3, 1]

    # The repair again over a built store makes the same; a later write keeps it.
    again = manage(command_env, "rebuild_gaps", "--verbosity", "0")
    assert again.returncode == 0 and again.stdout == ""
    write_file(data / "XBTUSD_60.csv", candle_lines(60, 600, skip={3, 4, 550})[480:])
    update = manage(command_env, "ingest_sequential", "--data-dir", str(data), "--yes")
    assert update.returncode == 0, update.stdout + update.stderr
    assert_kept_matches_scan()
    assert json.loads(web.get("/api/gaps?ticker=BTC&interval=60").content)["gaps"][-1]["missing_candles"] == 1
