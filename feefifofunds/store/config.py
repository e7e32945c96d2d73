"""QuestDB connection settings, read from environment variables.

Kept free of Django imports so settings.py can call it and tests can feed it any mapping.

The default alias ``questdb`` reads ``QUESTDB_HOST``, ``QUESTDB_HTTP_PORT``, ``QUESTDB_PG_PORT``,
``QUESTDB_ILP_PORT``, ``QUESTDB_USER`` and ``QUESTDB_PASSWORD``. More aliases are declared with
``QUESTDB_ALIASES=custom_questdb,archive`` and read ``QUESTDB_<ALIAS>_HOST`` and so on (alias upper-cased),
falling back to the defaults below for anything not set.

Bulk writes through QuestDB's Parquet reader (``parquet_import``) need a folder both sides see:
``QUESTDB_IMPORT_DIR`` (``QUESTDB_<ALIAS>_IMPORT_DIR``) is the folder as this machine sees it, and
``QUESTDB_IMPORT_DIR_SERVER`` (``QUESTDB_<ALIAS>_IMPORT_DIR_SERVER``) the same folder as the QuestDB server
sees it, an absolute path at or below the server's ``cairo.sql.copy.root`` (default: the same path as on
this machine). Unset, the default alias uses the import folder of the local server this project starts
(``<state dir>/questdb/import``) and other aliases have none; set to an empty value, the alias has none.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

DEFAULT_ALIAS = "questdb"
_ALIAS_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class QuestDBConfigError(ValueError):
    """A QuestDB setting in the environment is malformed; the message names the variable."""


@dataclass(frozen=True)
class QuestDBConfig:
    host: str = "127.0.0.1"
    http_port: int = 9000
    pg_port: int = 8812
    ilp_port: int = 9009
    user: str = "admin"
    password: str = "quest"
    database: str = "qdb"
    import_dir: str = ""  # the Parquet import folder as this machine sees it; "" = none
    import_dir_server: str = ""  # the same folder as the server sees it; "" = the same path

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def server_import_dir(self) -> str:
        """The import folder as the server sees it (what ``read_parquet`` is given)."""
        return self.import_dir_server or self.import_dir

    @property
    def store_id(self) -> str:
        """The server behind the alias (host:HTTP port): what the store lock and the records of what a store
        holds are keyed on (two aliases of one server are one store)."""
        return f"{self.host}:{self.http_port}"

    def describe(self) -> str:
        """Where this alias points, without the password."""
        return f"{self.host} (http {self.http_port}, pgwire {self.pg_port}, ilp {self.ilp_port})"


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise QuestDBConfigError(f"{name}={raw!r} is not a port number") from None
    if not 0 < value < 65536:
        raise QuestDBConfigError(f"{name}={raw!r} is outside 1..65535")
    return value


def alias_prefix(alias: str) -> str:
    """The start of the alias's variable names: ``QUESTDB`` for the default alias, else ``QUESTDB_<ALIAS>``."""
    return "QUESTDB" if alias == DEFAULT_ALIAS else f"QUESTDB_{alias.upper()}"


def local_server_dir(env: Mapping[str, str]) -> Path:
    """The state folder of the QuestDB server this project starts (``make services``)."""
    default = Path(__file__).resolve().parents[2] / ".state"
    return Path(os.path.abspath(env.get("FEEFIFOFUNDS_STATE_DIR", default))) / "questdb"


def local_import_dir(env: Mapping[str, str]) -> Path:
    """That server's ``cairo.sql.copy.root``, where the default alias puts its Parquet files."""
    return local_server_dir(env) / "import"


def _import_dirs(env: Mapping[str, str], prefix: str, default: str) -> tuple[str, str]:
    name = f"{prefix}_IMPORT_DIR"
    local = env.get(name, default).strip()
    server = env.get(f"{name}_SERVER", "").strip()
    if server and not (PurePosixPath(server).is_absolute() or PureWindowsPath(server).is_absolute()):
        raise QuestDBConfigError(f"{name}_SERVER={server!r} is not an absolute path (the folder as the server sees it)")
    return (os.path.abspath(local) if local else ""), server


def _alias_config(env: Mapping[str, str], prefix: str, import_default: str = "") -> QuestDBConfig:
    d = QuestDBConfig()
    import_dir, import_dir_server = _import_dirs(env, prefix, import_default)
    return QuestDBConfig(
        host=env.get(f"{prefix}_HOST") or d.host,
        http_port=_port(env, f"{prefix}_HTTP_PORT", d.http_port),
        pg_port=_port(env, f"{prefix}_PG_PORT", d.pg_port),
        ilp_port=_port(env, f"{prefix}_ILP_PORT", d.ilp_port),
        user=env.get(f"{prefix}_USER") or d.user,
        password=env.get(f"{prefix}_PASSWORD") or d.password,
        database=env.get(f"{prefix}_DATABASE") or d.database,
        import_dir=import_dir,
        import_dir_server=import_dir_server,
    )


def questdb_databases_from_env(env: Mapping[str, str]) -> dict[str, QuestDBConfig]:
    """All configured aliases; the default alias always exists."""
    databases = {DEFAULT_ALIAS: _alias_config(env, alias_prefix(DEFAULT_ALIAS), str(local_import_dir(env)))}
    for alias in filter(None, (a.strip() for a in env.get("QUESTDB_ALIASES", "").split(","))):
        if not _ALIAS_RE.match(alias):
            raise QuestDBConfigError(f"QUESTDB_ALIASES: {alias!r} is not a valid alias name")
        if alias == DEFAULT_ALIAS:
            continue
        databases[alias] = _alias_config(env, alias_prefix(alias))
    return databases
