"""QuestDB connection settings, read from environment variables.

Kept free of Django imports so settings.py can call it and tests can feed it any mapping.

The default alias ``questdb`` reads ``QUESTDB_HOST``, ``QUESTDB_HTTP_PORT``, ``QUESTDB_PG_PORT``,
``QUESTDB_ILP_PORT``, ``QUESTDB_USER`` and ``QUESTDB_PASSWORD``. More aliases are declared with
``QUESTDB_ALIASES=custom_questdb,archive`` and read ``QUESTDB_<ALIAS>_HOST`` and so on (alias upper-cased),
falling back to the defaults below for anything not set.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

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

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

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


def _alias_config(env: Mapping[str, str], prefix: str) -> QuestDBConfig:
    d = QuestDBConfig()
    return QuestDBConfig(
        host=env.get(f"{prefix}_HOST") or d.host,
        http_port=_port(env, f"{prefix}_HTTP_PORT", d.http_port),
        pg_port=_port(env, f"{prefix}_PG_PORT", d.pg_port),
        ilp_port=_port(env, f"{prefix}_ILP_PORT", d.ilp_port),
        user=env.get(f"{prefix}_USER") or d.user,
        password=env.get(f"{prefix}_PASSWORD") or d.password,
        database=env.get(f"{prefix}_DATABASE") or d.database,
    )


def questdb_databases_from_env(env: Mapping[str, str]) -> dict[str, QuestDBConfig]:
    """All configured aliases; the default alias always exists."""
    databases = {DEFAULT_ALIAS: _alias_config(env, "QUESTDB")}
    for alias in filter(None, (a.strip() for a in env.get("QUESTDB_ALIASES", "").split(","))):
        if not _ALIAS_RE.match(alias):
            raise QuestDBConfigError(f"QUESTDB_ALIASES: {alias!r} is not a valid alias name")
        if alias == DEFAULT_ALIAS:
            continue
        databases[alias] = _alias_config(env, f"QUESTDB_{alias.upper()}")
    return databases
