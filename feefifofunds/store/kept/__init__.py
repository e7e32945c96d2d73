"""Coverage and gap runs per series, kept in the catalog and brought up to date by every write.

Readers (the asset list, ``/api/gaps``, the chart, the daily survey) read these tables instead of scanning the
price store, so their cost follows what they show, not what the store holds. They live in the catalog
database: they are rewritten per series and span (QuestDB has no DELETE), read by index for one series and
aggregated for the asset list, and each update commits in one transaction with the deletion of the notes it
applied (``store.written``). The catalog's asset ids are the price rows' ids (``store.binding``).

What is kept is what a full scan finds (``gaps.detection.detect_gaps``): a series' runs are the pairs of
consecutive stored candles further apart than one interval (the run starts one interval after the first of
them and has ``(later - earlier - 1) // interval`` candles), split where a backfill confirmed the candles
empty (``ConfirmedEmptyRange``). A series whose asset keeps market hours is judged by its calendar's sessions
instead (``calendars.missing_runs``), recomputed from all its stored times when written (such series are
API series: small). The count follows from the span and the runs while every candle lies on its interval's
grid (``regular``); otherwise the series is counted again.

An update (``apply_notes``) looks at the regions of time the notes cover: per region, two queries of the
price table (per series: first, last, count and off-grid candles; the runs inside), both bounded by the
region's time range. Per series, the kept runs within the region are replaced by the ones stored there; a run
that reaches into the region from outside gives the stored candle before (or after) it, so nothing outside
the region is read. Exact in any order of the notes, since every difference between the kept state and the
store lies inside a noted span, at least one interval from the edge of its region.

``rebuild`` makes it all from the price table (the repair, and the first build of a store that has prices):
one pass per chunk of asset ids, resumable. Until a store is built, readers get ``None`` ("gaps not built
yet"), never a silent zero; a store whose table is empty is built at its first write."""

from .build import BUILD_CHUNK_ROWS, BuildProgress, rebuild, rejudge
from .runs import Cover, Piece, Run, grid_run, pieces_of, split_run, stored_runs, stored_summary
from .state import (
    NOT_BUILT,
    NotBuilt,
    build_record,
    coverage_rows,
    forget,
    is_built,
    pieces_where,
    regular_series,
    series_pieces,
    store_of,
    table_id,
    version,
)
from .update import apply_notes, catch_up, prepare, reconfirm

__all__ = [
    "BUILD_CHUNK_ROWS", "NOT_BUILT", "BuildProgress", "Cover", "NotBuilt", "Piece", "Run", "apply_notes",
    "build_record", "catch_up", "coverage_rows", "forget", "grid_run", "is_built", "pieces_of", "pieces_where",
    "prepare", "rebuild", "reconfirm", "regular_series", "rejudge", "series_pieces", "split_run", "store_of",
    "stored_runs", "stored_summary", "table_id", "version",
]
