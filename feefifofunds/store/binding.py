"""Which catalog a price store belongs to: recorded in the store, checked before prices are read or written.

The rows of ``assetprice`` carry the catalog's asset ids and nothing else about the asset, so a store filled
with one catalog and read with another (a reset SQLite file, a move to PostgreSQL, two checkouts on one
QuestDB) would show one asset's candles under another's ticker. The catalog has an identity (a random UUID,
``models.CatalogIdentity``); the store records the catalog it is bound to in a small table of its own,
``feefifofunds_binding`` (one row per binding, the latest wins, so the history stays readable). ``check``
compares the two: a store with no record adopts the catalog that first meets it, an empty store is adopted
silently by any catalog (no asset id in it can be misread), and a store bound to another catalog is refused
with ``BindingMismatch``, whose message names both ids and the ways out. ``adopt`` rebinds explicitly
(``manage.py bind_store --adopt``).

The binding table is not partitioned, so QuestDB keeps it without a WAL: a record is visible to the next
reader at once, and ``check`` creates it when missing (a store older than migration 0010).
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from . import client, schema
from .config import DEFAULT_ALIAS

TABLE = "feefifofunds_binding"
CREATE_TABLE_SQL = (f"CREATE TABLE IF NOT EXISTS {TABLE} (catalog_id VARCHAR, catalog VARCHAR, how VARCHAR, "
                    "bound_at TIMESTAMP) TIMESTAMP(bound_at)")

# How a binding came about (the ``how`` column).
FIRST_MEETING = "first meeting"
EMPTY_STORE = "empty store adopted"
ADOPTED = "bind_store --adopt"


class BindingMismatch(RuntimeError):
    """The store holds another catalog's asset ids; the message names both catalogs and the ways out."""

    def __init__(self, store: str, bound: Binding, catalog: Catalog):
        self.store, self.bound, self.catalog = store, bound, catalog
        super().__init__(
            f"the price store {store} belongs to another catalog: it was filled with catalog {bound.catalog_id} "
            f"({bound.catalog}, bound {bound.bound_at:%Y-%m-%d %H:%M} UTC, {bound.how}), and this catalog is "
            f"{catalog.catalog_id} ({catalog.description}). Its asset ids would show one asset's candles under "
            "another's ticker, so nothing was read or written. Point DATABASE_URL at the catalog that filled "
            "this store; or, once you have checked that this catalog's asset ids are the ones in the store (the "
            "same assets with the same ids), run `manage.py bind_store --adopt` to bind the store to this catalog.")


@dataclass(frozen=True)
class Catalog:
    """This process' catalog: its identity and where it is (for messages; never the password)."""

    catalog_id: str
    description: str


@dataclass(frozen=True)
class Binding:
    """The catalog a store is bound to, as recorded in the store."""

    catalog_id: str
    catalog: str
    how: str
    bound_at: datetime


def create_table(alias: str = DEFAULT_ALIAS) -> None:
    client.execute(CREATE_TABLE_SQL, alias=alias)


def drop_table(alias: str = DEFAULT_ALIAS) -> None:
    client.execute(f"DROP TABLE IF EXISTS {TABLE}", alias=alias)


def this_catalog(using: str = "default") -> Catalog:
    """The catalog's identity, created on first use when the row is missing (a catalog emptied by ``flush``)."""
    from django.db import connections

    from feefifofunds.models import CatalogIdentity

    row, _ = CatalogIdentity.objects.using(using).get_or_create(pk=1, defaults={"catalog_id": uuid.uuid4()})
    db = connections[using].settings_dict
    where = db.get("NAME") or "?"
    if db.get("HOST"):
        where = f"{where} at {db['HOST']}" + (f":{db['PORT']}" if db.get("PORT") else "")
    return Catalog(str(row.catalog_id), f"{connections[using].vendor} {where}")


def current(alias: str = DEFAULT_ALIAS) -> Binding | None:
    """The store's binding (its latest record), or None for a store never bound."""
    create_table(alias)
    rows = client.query(f"SELECT catalog_id, catalog, how, bound_at FROM {TABLE} ORDER BY bound_at DESC LIMIT 1",
                        alias=alias)
    if not rows:
        return None
    catalog_id, catalog, how, bound_at = rows[0]
    return Binding(catalog_id, catalog, how, bound_at.replace(tzinfo=UTC) if bound_at.tzinfo is None else bound_at)


def store_is_empty(alias: str = DEFAULT_ALIAS) -> bool:
    """No candle stored, nor any on its way (a WAL transaction not applied yet)."""
    pending = client.query("SELECT writerTxn < sequencerTxn FROM wal_tables() WHERE name = %s", (schema.TABLE,),
                           alias=alias)
    if pending and pending[0][0]:
        return False
    return client.query(f"SELECT count() FROM {schema.TABLE}", alias=alias)[0][0] == 0


def bind(catalog: Catalog, how: str, alias: str = DEFAULT_ALIAS) -> Binding:
    """Record that the store belongs to ``catalog`` from now on."""
    create_table(alias)
    client.execute(f"INSERT INTO {TABLE} (catalog_id, catalog, how, bound_at) VALUES (%s, %s, %s, %s)",
                   (catalog.catalog_id, catalog.description, how, datetime.now(UTC)), alias=alias)
    return current(alias)


def check(alias: str = DEFAULT_ALIAS, catalog: Catalog | None = None) -> Binding:
    """The store's binding to this catalog, adopting a store never bound or empty; ``BindingMismatch`` when
    the store is another catalog's. Two catalogs adopting one new store at the same moment: the later
    record wins and the other side is refused at once (its own record was not the latest)."""
    catalog = catalog or this_catalog()
    store = client.get_config(alias).store_id
    bound = current(alias)
    if bound is not None and bound.catalog_id == catalog.catalog_id:
        return bound
    if bound is None:
        bound = bind(catalog, FIRST_MEETING, alias)
    elif store_is_empty(alias):
        bound = bind(catalog, EMPTY_STORE, alias)
    if bound.catalog_id != catalog.catalog_id:
        raise BindingMismatch(store, bound, catalog)
    return bound


def adopt(alias: str = DEFAULT_ALIAS, catalog: Catalog | None = None) -> tuple[Binding | None, Binding]:
    """Bind the store to this catalog whatever it was bound to: (the binding before, the binding now)."""
    catalog = catalog or this_catalog()
    before = current(alias)
    return before, bind(catalog, ADOPTED, alias)


_checked: set[tuple[str, str]] = set()
_checked_lock = threading.Lock()


def check_once(alias: str = DEFAULT_ALIAS) -> None:
    """``check`` once per process and store (a web worker serves many requests); only success is remembered,
    so a store rebound or a catalog put right is served without a restart."""
    key = (alias, client.get_config(alias).store_id)
    if key in _checked:
        return
    with _checked_lock:
        if key not in _checked:
            check(alias)
            _checked.add(key)


def forget_checks() -> None:
    """Check again on next use (tests that change the catalog or the binding under a running process)."""
    with _checked_lock:
        _checked.clear()
