"""The project's commands run every system check but the URL check, so a data command starts without
importing the web views, the API and Ninja; ``manage.py check`` still checks the URLs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.core.management import get_commands, load_command_class

from feefifofunds.cli.checks import WITHOUT_URLS

REPO = Path(__file__).resolve().parents[2]


def test_every_project_command_skips_only_the_url_check():
    ours = sorted(name for name, app in get_commands().items() if app == "feefifofunds")
    assert "ingest_sequential" in ours and "backfill_kraken_gaps" in ours and "rebuild_gaps" in ours
    for name in ours:
        assert load_command_class("feefifofunds", name).requires_system_checks == WITHOUT_URLS, name
    assert "urls" not in WITHOUT_URLS and {"models", "database", "caches"} <= set(WITHOUT_URLS)


def imported_modules(tmp_path: Path, *args: str) -> set[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SECRET_KEY", "DATABASE_URL")}
    env.update(FEEFIFOFUNDS_STATE_DIR=str(tmp_path / "state"), DJANGO_SETTINGS_MODULE="feefifofunds_project.settings")
    run = subprocess.run([sys.executable, "-X", "importtime", "manage.py", *args], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr[-2000:]
    return {line.rsplit("|", 1)[-1].strip() for line in run.stderr.splitlines() if line.startswith("import time:")}


def test_a_data_command_starts_without_the_web_modules(tmp_path):
    command = imported_modules(tmp_path, "make_sample_archive", "--data-dir", str(tmp_path / "data"))
    assert "feefifofunds.store.kept" in command  # (importtime lists what import statements import)
    assert not {"ninja", "pydantic", "feefifofunds.web.api"} & command
    survey = imported_modules(tmp_path, "help", "backfill_kraken_gaps")  # the command's modules, as a survey has
    assert "feefifofunds.gaps.run" in survey
    assert not {"pyarrow", "questdb.ingress", "feefifofunds.ingestion.writer"} & survey  # only a fill writes
    checked = imported_modules(tmp_path, "check")
    assert {"ninja", "pydantic", "feefifofunds.web.api"} <= checked


def test_install_leaves_every_module_compiled():
    """``make install`` compiles the project's modules, so a command does not compile them at each start where
    bytecode is never written (PYTHONDONTWRITEBYTECODE); a compiled file is current for its source."""
    import importlib.util
    import struct

    planned = subprocess.run(["make", "-n", "install"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert "compileall" in planned.stdout, planned.stdout + planned.stderr
    run = subprocess.run(["make", "-s", "bytecode"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    sources = sorted((REPO / "feefifofunds").rglob("*.py"))
    assert len(sources) > 50
    for source in sources:
        compiled = Path(importlib.util.cache_from_source(str(source)))
        assert compiled.exists(), source
        flags, mtime, size = struct.unpack("<III", compiled.read_bytes()[4:16])
        stat = source.stat()
        assert flags == 0 and (mtime, size) == (int(stat.st_mtime) & 0xFFFFFFFF, stat.st_size & 0xFFFFFFFF), source
