"""The asset catalog: creating and resolving assets (relational database, via the ORM)."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from .models import Asset
from .tiers import readable_name, tier_of


class AssetExists(Exception):
    pass


def create_asset(*, ticker: str, name: str, category: str, quote_currency: str = "USD",
                 description: str = "", tier: str = "") -> Asset:
    """Validate then insert; a duplicate ticker changes nothing and raises AssetExists."""
    asset = Asset(ticker=ticker.strip().upper(), name=name.strip(), category=category,
                  quote_currency=quote_currency.strip().upper(), description=description, tier=tier)
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
            [Asset(ticker=t, name=readable_name(t), category=Asset.Category.CRYPTO,
                   quote_currency=quote_currency, tier=tier_of(t)) for t in missing],
            ignore_conflicts=True,
        )
        found.update({a.ticker: a for a in Asset.objects.filter(ticker__in=missing)})
    return found, missing
