"""Which assets a gap run covers (tier and ticker filters over the catalog), and their report labels."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from feefifofunds.models import Asset
from feefifofunds.tiers import tier_of


class ScopeError(ValueError):
    pass


@dataclass(frozen=True)
class AssetLabel:
    """How an asset is named in a gap run's report, CSV and progress lines."""

    ticker: str
    tier: str
    quote_currency: str = "USD"  # the asset's usual quote: other quotes are shown as TICKER/QUOTE


def effective_tier(asset: Asset) -> str:
    return asset.tier or tier_of(asset.ticker)


def label_of(asset: Asset) -> AssetLabel:
    return AssetLabel(asset.ticker, effective_tier(asset), asset.quote_currency)


@dataclass
class Scope:
    asset_ids: set[int] | None  # None: every asset with Kraken data
    labels: dict[int, AssetLabel] = field(default_factory=dict)

    def labels_for(self, asset_ids: Iterable[int]) -> dict[int, AssetLabel]:
        missing = set(asset_ids) - set(self.labels)
        if missing:
            self.labels.update({a.pk: label_of(a) for a in Asset.objects.filter(pk__in=missing)})
        return self.labels


def resolve_scope(tiers: Sequence[str] | None = None, ticker: str | None = None) -> Scope:
    """``tiers`` (TIER1..TIER4, ALL) and ``ticker`` narrow the assets; neither means all of them."""
    wanted = {t.upper() for t in tiers or ()}
    if "ALL" in wanted:
        wanted = set()
    if not wanted and not ticker:
        return Scope(None)
    qs = Asset.objects.all()
    if ticker:
        qs = qs.filter(ticker=ticker.strip().upper())
        if not qs.exists():
            raise ScopeError(f"no asset with ticker {ticker.strip().upper()!r} in the catalog")
    assets = [a for a in qs if not wanted or effective_tier(a) in wanted]
    return Scope({a.pk for a in assets}, {a.pk: label_of(a) for a in assets})
