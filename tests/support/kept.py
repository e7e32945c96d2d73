"""What the store keeps (``store.kept``) against what a full scan of the prices finds: the two must be equal
after every kind of write. The scan side uses nothing of the kept state."""

from __future__ import annotations

from feefifofunds.gaps.detection import detect_gaps, split_confirmed_empty
from feefifofunds.models import KeptGap, KeptSeries
from feefifofunds.store import client, kept, schema
from feefifofunds.store.series import SeriesKey
from feefifofunds.timeframes import epoch_micros


def scanned(alias: str = "questdb") -> tuple[dict, list]:
    """Coverage per series (first, last, count, open gaps) and every gap run (real and confirmed empty), from
    an aggregate of the price table and ``detect_gaps`` + ``split_confirmed_empty``."""
    client.wait_for_wal(schema.TABLE, alias=alias)
    rows = client.query("SELECT asset_id, interval_minutes, quote_currency, source, min(cast(time AS LONG)), "
                        "max(cast(time AS LONG)), count() FROM assetprice "
                        "GROUP BY asset_id, interval_minutes, quote_currency, source", alias=alias)
    cover = {SeriesKey(int(a), int(i), str(q), str(s)): [int(lo), int(hi), int(n), 0] for a, i, q, s, lo, hi, n in rows}
    runs = []
    for source in sorted({k.source for k in cover}):
        real, empty = split_confirmed_empty(detect_gaps(alias, source=source))
        for flag, gaps in ((False, real), (True, empty)):
            for g in gaps:
                key = SeriesKey(g.asset_id, g.interval_minutes, g.quote_currency, source)
                runs.append((key, epoch_micros(g.start), epoch_micros(g.end), g.missing_candles, flag))
                if not flag:
                    cover[key][3] += 1
    return {k: tuple(v) for k, v in cover.items()}, sorted(runs, key=_order)


def _order(run: tuple) -> tuple:
    key = run[0]
    return (key.asset_id, key.interval_minutes, key.quote_currency, key.source, *run[1:])


def kept_now(alias: str = "questdb") -> tuple[dict, list]:
    """The same as ``scanned``, read from the kept tables."""
    store = kept.store_of(alias)
    cover = {SeriesKey(a, i, q, s): (lo, hi, n, o) for a, i, q, s, lo, hi, n, o in KeptSeries.objects.filter(
        store=store).values_list("asset_id", "interval_minutes", "quote_currency", "source", "first_us", "last_us",
                                 "candles", "open_gaps")}
    runs = [(SeriesKey(a, i, q, s), start, end, n, bool(flag)) for a, i, q, s, start, end, n, flag in
            KeptGap.objects.filter(store=store).values_list("asset_id", "interval_minutes", "quote_currency", "source",
                                                            "start_us", "end_us", "missing", "confirmed_empty")]
    return cover, sorted(runs, key=_order)


def assert_kept_matches_scan(alias: str = "questdb") -> tuple[dict, list]:
    """The kept coverage and gaps are built, and equal to a full scan, series by series and gap by gap."""
    assert kept.is_built(alias), "the store's kept gaps are not built"
    want_cover, want_runs = scanned(alias)
    have_cover, have_runs = kept_now(alias)
    assert have_cover == want_cover
    assert have_runs == want_runs
    return have_cover, have_runs
