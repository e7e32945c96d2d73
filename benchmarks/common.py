"""What the benchmarks share: a throwaway QuestDB, the command environment, CPU and load readings."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from feefifofunds.store import server  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Reading:
    wall: float = 0.0
    client_cpu: float = 0.0
    server_cpu: float = 0.0
    load: str = ""

    def per_row(self, rows: int) -> str:
        return (f"client {self.client_cpu / rows * 1e6:.2f} us/row, server {self.server_cpu / rows * 1e6:.2f} us/row, "
                f"{(self.client_cpu + self.server_cpu) / self.wall:.2f} cores busy, load {self.load}")


@contextmanager
def measure(server_pid: int):
    """Wall time, CPU of the child processes run meanwhile (the command) and of QuestDB."""
    reading = Reading()
    c0, s0, t0 = children_cpu(), process_cpu(server_pid), time.perf_counter()
    yield reading
    reading.wall = time.perf_counter() - t0
    reading.client_cpu = children_cpu() - c0
    reading.server_cpu = process_cpu(server_pid) - s0
    reading.load = loadavg()


def start_questdb(root: Path, *, sync: bool = False) -> tuple[subprocess.Popen, server.Ports]:
    """A fresh QuestDB on free loopback ports, its copy root ``root/import`` (``import_dir_of``); ``sync``:
    durable commits (QDB_CAIRO_COMMIT_MODE=sync)."""
    if sync:
        os.environ["QDB_CAIRO_COMMIT_MODE"] = "sync"
    else:
        os.environ.pop("QDB_CAIRO_COMMIT_MODE", None)
    jar = server.ensure_jar(REPO / ".state" / "questdb" / "jars")
    ports = server.Ports.free()
    proc = server.start(root, ports, jar, heap=os.environ.get("QUESTDB_HEAP", "2g"))
    return proc, ports


def import_dir_of(root: Path) -> Path:
    return Path(os.path.abspath(root / "import"))


def env_for(ports: server.Ports, catalog: Path, *, import_dir: Path | None = None) -> dict[str, str]:
    """The commands' environment for a throwaway server; ``import_dir``: its copy root (the Parquet path),
    None: no import folder (the ILP path)."""
    env = dict(os.environ)
    env.update(DJANGO_SETTINGS_MODULE="feefifofunds_project.settings", DATABASE_URL=f"sqlite:///{catalog}",
               QUESTDB_HOST="127.0.0.1", QUESTDB_HTTP_PORT=str(ports.http), QUESTDB_PG_PORT=str(ports.pg),
               QUESTDB_ILP_PORT=str(ports.ilp), FEEFIFOFUNDS_LOCK_DIR=str(catalog.parent / "locks"),
               QUESTDB_IMPORT_DIR=str(import_dir) if import_dir else "")
    env.pop("KRAKEN_INGESTED_DIR", None)
    env.pop("QUESTDB_IMPORT_DIR_SERVER", None)
    return env


@dataclass
class ChildRun:
    """A command run as a child process, with its own CPU and peak memory (``os.wait4``)."""

    returncode: int
    stdout: str
    stderr: str
    cpu: float
    peak_mib: float


def run_child(cmd: list[str], env: dict[str, str]) -> ChildRun:
    import tempfile

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return ChildRun(proc.returncode, out.read(), err.read(), usage.ru_utime + usage.ru_stime,
                        usage.ru_maxrss / 1024)


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    run = subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed ({run.returncode}):\n{run.stdout[-3000:]}\n"
                         f"{run.stderr[-3000:]}")
    return run


def pg(ports: server.Ports):
    import psycopg

    return psycopg.connect(host="127.0.0.1", port=ports.pg, user="admin", password="quest", dbname="qdb",
                           autocommit=True)


def set_layout(ports: server.Ports, partition_by: str) -> None:
    """Re-create the (empty) assetprice table with another partitioning, to compare layouts."""
    from feefifofunds.store import schema

    with pg(ports) as conn:
        conn.execute(f"DROP TABLE {schema.TABLE}")
        conn.execute(schema.create_table_sql(schema.TABLE, partition_by))
        conn.execute(f"ALTER TABLE {schema.TABLE} DEDUP ENABLE UPSERT KEYS({', '.join(schema.DEDUP_KEYS)})")


def count_rows(ports: server.Ports, table: str = "assetprice") -> int:
    with pg(ports) as conn:
        return conn.execute(f"SELECT count() FROM {table}").fetchone()[0]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(env: dict[str, str], log: Path, timeout: float = 120.0, *,
          checkout: Path = REPO) -> tuple[subprocess.Popen, str]:
    """The dashboard and API as `make serve` serves them (``python -m feefifofunds.web.serve``: gunicorn,
    collected static files) on a free loopback port; returns the process and its base URL once it answers.
    ``checkout``: the tree whose code serves (another git ref's, from ``export``)."""
    import urllib.request

    env = dict(env, FEEFIFOFUNDS_HOST="127.0.0.1", FEEFIFOFUNDS_PORT=str(free_port()))
    with log.open("wb") as out:
        web = subprocess.Popen([sys.executable, "-m", "feefifofunds.web.serve"], cwd=checkout, env=env,
                               stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{env['FEEFIFOFUNDS_PORT']}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(base + "/static/feefifofunds/dashboard.css", timeout=5).read()
            return web, base
        except OSError:
            if web.poll() is not None or time.monotonic() > deadline:
                web.terminate()
                raise SystemExit(f"server did not start:\n{log.read_text()}") from None
            time.sleep(0.3)


def export(ref: str, into: Path) -> Path:
    """The tree of git ref ``ref`` in ``into`` (nothing of the repository changes): another version's code to
    run against the same store."""
    import tarfile
    from io import BytesIO

    archive = subprocess.run(["git", "archive", ref], cwd=REPO, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into
