"""A throwaway PostgreSQL cluster on a free loopback port, for the test session.

Uses Debian's server binaries (the Makefile installs the `postgresql` package when they are missing).
PostgreSQL refuses to run as root, so as root the cluster runs as the `postgres` system user.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Cluster:
    datadir: Path
    port: int
    user: str = "postgres"

    @property
    def url(self) -> str:
        return f"postgres://{self.user}@127.0.0.1:{self.port}/postgres"


def _bindir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not candidates:
        raise RuntimeError(
            "PostgreSQL server binaries not found: run `make test` (it installs Debian's postgresql "
            "package) or set DATABASE_URL to an existing server"
        )
    return Path(candidates[-1]).parent


def _as_owner(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start() -> Cluster:
    bindir = _bindir()
    datadir = Path(tempfile.mkdtemp(prefix="fff-pg-"))
    if os.geteuid() == 0:
        shutil.chown(datadir, "postgres", "postgres")
    subprocess.run(_as_owner([str(bindir / "initdb"), "-D", str(datadir), "-U", "postgres", "-A", "trust",
                              "-E", "UTF8", "--no-sync"]), check=True, capture_output=True)
    port = _free_port()
    opts = (f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={datadir} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
    subprocess.run(_as_owner([str(bindir / "pg_ctl"), "-D", str(datadir), "-o", opts, "-l",
                              str(datadir / "server.log"), "-w", "-t", "60", "start"]),
                   check=True, capture_output=True)
    cluster = Cluster(datadir=datadir, port=port)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return cluster
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"PostgreSQL did not start on port {port}; see {datadir / 'server.log'}")


def stop(cluster: Cluster) -> None:
    bindir = _bindir()
    subprocess.run(_as_owner([str(bindir / "pg_ctl"), "-D", str(cluster.datadir), "-m", "fast", "-w", "stop"]),
                   capture_output=True)
    shutil.rmtree(cluster.datadir, ignore_errors=True)
