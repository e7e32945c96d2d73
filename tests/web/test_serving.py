"""Deployment settings: the per-install secret key and `check --deploy` for the served configuration."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from feefifofunds_project.secret import install_secret_key

REPO = Path(__file__).resolve().parents[2]


def test_secret_key_generated_once_into_a_new_state_folder(tmp_path):
    state = tmp_path / "a" / "state"
    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: install_secret_key(state), range(16)))
    assert len(keys) == 1 and len(keys.pop()) >= 50
    assert (state / "secret_key").stat().st_mode & 0o077 == 0
    assert [p.name for p in state.iterdir()] == ["secret_key"]  # no temporary file left behind
    assert install_secret_key(state) == (state / "secret_key").read_text().strip()


def manage(tmp_path, *args, **env):
    full = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SECRET_KEY", "DATABASE_URL")}
    full.update(FEEFIFOFUNDS_STATE_DIR=str(tmp_path / "state"), DJANGO_SETTINGS_MODULE="feefifofunds_project.settings",
                **env)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=full, capture_output=True, text=True,
                          timeout=120)


def test_check_deploy_is_clean_for_the_served_configuration(tmp_path):
    plain = manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING")
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert "4 silenced" in plain.stdout  # exactly the HTTPS-only warnings (README: "Serving")
    assert (tmp_path / "state" / "secret_key").exists()
    proxied = manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", DJANGO_BEHIND_TLS_PROXY="1")
    assert proxied.returncode == 0, proxied.stdout + proxied.stderr
    assert "0 silenced" in proxied.stdout


def test_commands_use_the_generated_key_or_the_environment(tmp_path):
    show = ("shell", "-c", "from django.conf import settings; print(settings.SECRET_KEY)")
    generated = manage(tmp_path, *show)
    assert generated.returncode == 0, generated.stderr
    assert generated.stdout.strip().splitlines()[-1] == (tmp_path / "state" / "secret_key").read_text().strip()
    assert manage(tmp_path, *show, DJANGO_SECRET_KEY="k" * 60).stdout.strip().splitlines()[-1] == "k" * 60
