"""The asset catalog: creating and resolving assets (relational database, via the ORM)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import IntegrityError, transaction

from .calendars import ALWAYS, check_calendar, default_calendar
from .models import Asset
from .tiers import readable_name, tier_of


class AssetExists(Exception):
    pass


class UnknownAsset(Exception):
    pass


def create_asset(*, ticker: str, name: str, category: str, quote_currency: str = "USD",
                 description: str = "", tier: str = "", calendar: str = "") -> Asset:
    """Validate then insert; a duplicate ticker changes nothing and raises AssetExists. ``calendar`` empty:
    the category's default (``calendars.default_calendar``); an unknown code is a ``ValidationError``."""
    asset = Asset(ticker=ticker.strip().upper(), name=name.strip(), category=category,
                  quote_currency=quote_currency.strip().upper(), description=description, tier=tier,
                  calendar=(calendar or default_calendar(category)).strip().upper())
    if Asset.objects.filter(ticker=asset.ticker).exists():
        raise AssetExists(f"asset {asset.ticker} already exists (id {Asset.objects.get(ticker=asset.ticker).pk})")
    asset.full_clean()
    try:
        with transaction.atomic():
            asset.save()
    except IntegrityError:
        raise AssetExists(f"asset {asset.ticker} already exists") from None
    return asset


def asset_tiers(tickers: set[str]) -> dict[str, str]:
    """The tier of each ticker: the catalog's for assets that exist (an admin may have moved them), else
    the static seed list of ``tiers.py`` (what a new asset would get). One query, nothing created."""
    known = dict(Asset.objects.filter(ticker__in=tickers).values_list("ticker", "tier"))
    return {t: known.get(t) or tier_of(t) for t in tickers}


def ensure_kraken_assets(tickers: set[str], quote_currency: str = "USD") -> tuple[dict[str, Asset], list[str]]:
    """Resolve many tickers in one query, creating the missing ones as Kraken crypto with their tier.

    Returns the assets by ticker and the tickers that were created.
    """
    found = {a.ticker: a for a in Asset.objects.filter(ticker__in=tickers)}
    missing = sorted(set(tickers) - set(found))
    if missing:
        Asset.objects.bulk_create(
            [Asset(ticker=t, name=readable_name(t), category=Asset.Category.CRYPTO, calendar=ALWAYS,
                   quote_currency=quote_currency, tier=tier_of(t)) for t in missing],
            ignore_conflicts=True,
        )
        found.update({a.ticker: a for a in Asset.objects.filter(ticker__in=missing)})
    return found, missing


def calendar_of(asset: Asset) -> str:
    """The asset's calendar; one created without ``save()`` (a bulk insert) has its category's default."""
    return asset.calendar or default_calendar(asset.category)


def calendars_of(asset_ids: Iterable[int] | None = None) -> dict[int, str]:
    """The calendar of every catalog asset (of ``asset_ids``, or all) that does not trade around the clock;
    assets absent here (or not in the catalog) are 24/7. One query."""
    qs = Asset.objects.exclude(calendar=ALWAYS)
    if asset_ids is not None:
        qs = qs.filter(pk__in=list(asset_ids))
    found = {pk: code or default_calendar(category) for pk, code, category in qs.values_list("pk", "calendar",
                                                                                               "category")}
    return {pk: code for pk, code in found.items() if code != ALWAYS}


def set_calendar(ticker: str, calendar: str) -> tuple[Asset, str]:
    """Give an existing asset another calendar; returns the asset and its calendar before. Saving the asset
    changes the store version (``store.coverage.store_version``), so every cached gap answer is re-derived."""
    code = check_calendar(calendar)
    asset = Asset.objects.filter(ticker=ticker.strip().upper()).first()
    if asset is None:
        raise UnknownAsset(f"no asset with ticker {ticker.strip().upper()!r} in the catalog")
    before = calendar_of(asset)
    asset.calendar = code
    asset.save()
    return asset, before
