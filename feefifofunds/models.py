"""The asset catalog (relational database) and a description of the QuestDB price table."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

from feefifofunds.calendars import CalendarError, check_calendar, default_calendar

TICKER_VALIDATOR = RegexValidator(
    r"^[A-Z0-9][A-Z0-9.\-]{0,19}$",
    "Tickers are 1-20 characters: upper-case letters, digits, '.' and '-', starting with a letter or digit.",
)


def validate_calendar(value: str) -> None:
    try:
        check_calendar(value)
    except CalendarError as exc:
        raise ValidationError(str(exc)) from None


class Asset(models.Model):
    class Category(models.TextChoices):
        STOCK = "STOCK", "Stock"
        CRYPTO = "CRYPTO", "Crypto"
        COMMODITY = "COMMODITY", "Commodity"
        CURRENCY = "CURRENCY", "Currency"

    class Tier(models.TextChoices):
        TIER1 = "TIER1", "Tier 1"
        TIER2 = "TIER2", "Tier 2"
        TIER3 = "TIER3", "Tier 3"
        TIER4 = "TIER4", "Tier 4"

    ticker = models.CharField(max_length=20, unique=True, validators=[TICKER_VALIDATOR])
    name = models.CharField(max_length=200)
    category = models.CharField(max_length=20, choices=Category.choices)
    quote_currency = models.CharField(max_length=10, default="USD")
    description = models.TextField(blank=True, default="")
    # Kraken tier classification; empty for assets that do not come from Kraken.
    tier = models.CharField(max_length=10, choices=Tier.choices, blank=True, default="")
    active = models.BooleanField(default=True)
    # When the asset's market trades (``feefifofunds.calendars``): 24/7, 24/5 or an exchange code such as
    # XNYS. Empty on a new asset means the default of its category, filled in on save.
    calendar = models.CharField(max_length=16, blank=True, default="", validators=[validate_calendar],
                                help_text="24/7, 24/5 or an exchange code (XNYS, XLON, ...)")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["ticker"]

    def save(self, *args, **kwargs):
        self.ticker = (self.ticker or "").strip().upper()
        self.quote_currency = (self.quote_currency or "USD").strip().upper()
        self.calendar = (self.calendar or default_calendar(self.category)).strip().upper()
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return f"{self.ticker} ({self.name})"


class AssetPrice(models.Model):
    """The QuestDB table ``assetprice``, for documentation and typing only.

    Django never queries or migrates it (``managed=False``; QuestDB is not a Django database). Reads and
    writes go through ``feefifofunds.store``. QuestDB has no primary key; ``time`` is declared as one only
    because Django requires a primary key on every model.
    """

    time = models.DateTimeField(primary_key=True, help_text="Designated timestamp: start of the candle, UTC")
    asset_id = models.IntegerField(help_text="Asset.id in the catalog")
    interval_minutes = models.IntegerField()
    open = models.FloatField()
    high = models.FloatField()
    low = models.FloatField()
    close = models.FloatField()
    volume = models.FloatField()
    trade_count = models.BigIntegerField(null=True)
    vwap = models.FloatField(null=True)
    quote_currency = models.CharField(max_length=10, help_text="SYMBOL")
    source = models.CharField(max_length=20, help_text="SYMBOL: kraken, massive, finnhub")

    class Meta:
        managed = False
        db_table = "assetprice"


class ConfirmedEmptyRange(models.Model):
    """Candle times a Kraken backfill asked for and Kraken had no candle for either (nobody traded then).

    Gap scans report these apart from real gaps, so the same empty hours are not fetched again and again.
    ``start``/``end`` are the first and last such candle time (inclusive, UTC).
    """

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="confirmed_empty_ranges")
    quote_currency = models.CharField(max_length=10)
    interval_minutes = models.IntegerField()
    start = models.DateTimeField()
    end = models.DateTimeField()
    confirmed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["asset_id", "quote_currency", "interval_minutes", "start"]
        indexes = [models.Index(fields=["asset", "quote_currency", "interval_minutes"],
                                name="ffff_confempty_series_idx")]

    def __str__(self) -> str:
        return f"{self.asset_id}/{self.quote_currency} {self.interval_minutes}m {self.start} → {self.end}"


class TradesProgress(models.Model):
    """Where an interrupted walk over a pair's Kraken trades stopped: the source's resumable cursor.

    ``start`` is where the walk began and ``reached`` how far its candles are known; the next backfill whose
    span starts in ``[start, reached]`` resumes from ``cursor``, so nothing is downloaded twice, and the
    candles still being built when the run stopped (part of the cursor) are written once complete. A pair can
    have several walks under way (an old gap and the trailing one). Deleted when its walk ends.
    """

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="trades_progress")
    quote_currency = models.CharField(max_length=10)
    start = models.DateTimeField()
    reached = models.DateTimeField()
    cursor = models.TextField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["asset", "quote_currency", "start"],
                                               name="ffff_tradesprogress_walk")]

    def __str__(self) -> str:
        return f"{self.asset_id}/{self.quote_currency} trades walk from {self.start} (reached {self.reached})"


class ZipMemberDone(models.Model):
    """A member of a Kraken archive zip whose rows are committed to one price store (or that proved empty).

    The archive job reads no recorded member again, and moves a zip out of the data directory once every
    member is recorded (or is junk or skipped). A zip is known by its name, size and a SHA-256 of its central
    directory (a re-downloaded identical zip is the same zip; a different release of that name is not); a
    store by ``host:http_port`` (``QuestDBConfig.store_id``), so another store starts from nothing.
    ``ingest_sequential --rescan ZIP`` deletes a zip's records.
    """

    store = models.CharField(max_length=200)
    zip_name = models.CharField(max_length=255)
    zip_size = models.BigIntegerField()
    zip_digest = models.CharField(max_length=64)
    member = models.CharField(max_length=500)
    done_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["store", "zip_name", "zip_size", "zip_digest", "member"],
                                               name="ffff_zipmemberdone_member")]
        indexes = [models.Index(fields=["store", "zip_name"], name="ffff_zipmemberdone_zip_idx")]

    def __str__(self) -> str:
        return f"{self.zip_name}:{self.member} in {self.store}"


class CatalogIdentity(models.Model):
    """The one row that names this catalog: a random id, created once, that a price store is bound to.

    The price rows in QuestDB carry this catalog's asset ids; ``feefifofunds.store.binding`` records which
    catalog filled a store and refuses another one (a reset SQLite file, a move to PostgreSQL), whose ids
    would show one asset's candles under another's ticker. A catalog emptied by ``flush`` loses the row and
    gets a new id on next use: its asset ids start over, so it is another catalog.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    catalog_id = models.UUIDField(unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="ffff_catalogidentity_one_row")]

    def __str__(self) -> str:
        return f"catalog {self.catalog_id}"


# --- what the price store holds, kept by every write (``feefifofunds.gaps.kept``) ----------------------------
#
# These tables live in the catalog, not in QuestDB: they are rewritten per series and span (QuestDB has no
# DELETE), read by index for one series or aggregated for the asset list, and committed in one transaction
# with the write's note. Times are epoch microseconds (exact arithmetic on the candle grid). ``store`` is the
# price store's ``QuestDBConfig.store_id``: one catalog may serve several stores.


class KeptBuild(models.Model):
    """Whether a store's kept coverage and gaps are built (``rebuild_gaps``), for which QuestDB table (its id
    changes when the table is dropped and created again), how far a build got, and a version that changes with
    every change to the kept state (readers' caches are keyed on it)."""

    store = models.CharField(max_length=200, unique=True)
    table_id = models.BigIntegerField()
    built = models.BooleanField(default=False)
    reached = models.BigIntegerField(null=True, help_text="asset ids below this are built (while building)")
    version = models.BigIntegerField(default=0)
    built_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"kept gaps of {self.store}: {'built' if self.built else 'not built'}"


class _StoreSeries(models.Model):
    """A series of one price store: the key the kept rows share (plain ids, like the price rows)."""

    store = models.CharField(max_length=200)
    asset_id = models.IntegerField()
    interval_minutes = models.IntegerField()
    quote_currency = models.CharField(max_length=10)
    source = models.CharField(max_length=20)

    class Meta:
        abstract = True


class KeptSeries(_StoreSeries):
    """One series' coverage: first and last candle, candle count, open (real) gaps and the sum of missing
    candles between first and last. ``regular``: every candle lies on its interval's grid, so the count follows
    from the span and the gaps. ``calendar``: what the gaps were judged by."""

    first_us = models.BigIntegerField()
    last_us = models.BigIntegerField()
    candles = models.BigIntegerField()
    missing = models.BigIntegerField(default=0)
    open_gaps = models.IntegerField(default=0)
    regular = models.BooleanField(default=True)
    calendar = models.CharField(max_length=16, default="24/7")

    class Meta:
        constraints = [models.UniqueConstraint(
            fields=["store", "asset_id", "interval_minutes", "quote_currency", "source"], name="ffff_keptseries_key")]


class KeptGap(_StoreSeries):
    """A run of missing candles of one series: ``after_us``/``before_us`` are the stored candles around it, and
    ``start_us``/``end_us`` its first and last missing candle. A run partly confirmed empty is kept as its
    pieces (same ``after_us``/``before_us``), each flagged."""

    after_us = models.BigIntegerField()
    before_us = models.BigIntegerField()
    start_us = models.BigIntegerField()
    end_us = models.BigIntegerField()
    missing = models.BigIntegerField()
    confirmed_empty = models.BooleanField(default=False)

    class Meta:
        indexes = [
            models.Index(fields=["store", "asset_id", "interval_minutes", "quote_currency", "source", "start_us"],
                         name="ffff_keptgap_series_idx"),
            models.Index(fields=["store", "before_us"], name="ffff_keptgap_before_idx"),
        ]


class WrittenSpan(_StoreSeries):
    """A span of a series a writer is about to send (noted before the rows go, so a kill at any moment leaves
    the note): the kept state is brought up to date from these notes, then they are deleted."""

    lo_us = models.BigIntegerField()
    hi_us = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["store"], name="ffff_writtenspan_store_idx")]
