"""Show which catalog a price store belongs to, or bind it to this catalog (``--adopt``).

The work is ``feefifofunds.store.binding``; this command prints the binding and decides the exit code.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from feefifofunds.cli.checks import WITHOUT_URLS
from feefifofunds.cli.console import locked
from feefifofunds.store import binding, kept
from feefifofunds.store.client import QuestDBError, get_config
from feefifofunds.store.config import DEFAULT_ALIAS


def describe(b: binding.Binding | None) -> str:
    if b is None:
        return "not bound to any catalog yet"
    return f"catalog {b.catalog_id} ({b.catalog}), bound {b.bound_at:%Y-%m-%d %H:%M:%S} UTC ({b.how})"


class Command(BaseCommand):
    help = ("Show which catalog the price store belongs to (the catalog whose asset ids its rows carry) and this "
            "catalog's id; --adopt binds the store to this catalog, once you have checked that its asset ids are "
            "the ones in the store.")

    requires_system_checks = WITHOUT_URLS

    def add_arguments(self, parser):
        parser.add_argument("--adopt", action="store_true",
                            help="Bind the store to this catalog, whatever catalog it was bound to")
        parser.add_argument("--database", default=DEFAULT_ALIAS, help=f"QuestDB alias (default: {DEFAULT_ALIAS})")

    def handle(self, *args, adopt, database, **options):
        try:
            catalog = binding.this_catalog()
            store = get_config(database).store_id
            self.stdout.write(f"This catalog: {catalog.catalog_id} ({catalog.description})")
            if adopt:
                with locked(database, command="bind_store"):  # not while a run writes with the other catalog
                    before, now = binding.adopt(database, catalog)
                    if before is not None and before.catalog_id != catalog.catalog_id:
                        kept.forget(database)  # what this catalog kept of it may be out of date
                self.stdout.write(f"Store {store} was: {describe(before)}")
                self.stdout.write(f"Store {store} is now: {describe(now)}")
                return
            bound = binding.current(database)
        except QuestDBError as exc:
            raise CommandError(str(exc)) from None
        except DatabaseError as exc:
            raise CommandError(f"reading the catalog's identity (has `manage.py migrate` run?): {exc}") from None
        self.stdout.write(f"Store {store}: {describe(bound)}")
        if bound is not None and bound.catalog_id != catalog.catalog_id:
            raise CommandError(f"the store {store} belongs to another catalog; point DATABASE_URL at catalog "
                               f"{bound.catalog_id}, or run `manage.py bind_store --adopt` once you have checked "
                               "that this catalog's asset ids are the ones in the store")

