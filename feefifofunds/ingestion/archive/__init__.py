"""The main job: a Kraken OHLCVT archive into QuestDB, fast and loss-free (the rooms: ``job``'s docstring)."""

from .archiving import default_ingested_dir, fsync_default
from .inputs import ArchiveInput, LooseFiles, default_staging_dir
from .job import DEFAULT_PART_ROWS, ingest, ingest_files, plan, rounds
from .outcomes import Events, FileResult, RunStopped, RunSummary
from .selection import Selection, select
from .zips import ZipArchive, ZipOutcome, forget_zip, list_zips, outcome, zip_inputs

__all__ = ["DEFAULT_PART_ROWS", "ArchiveInput", "Events", "FileResult", "LooseFiles", "RunStopped", "RunSummary",
           "Selection", "ZipArchive", "ZipOutcome", "default_ingested_dir", "default_staging_dir", "forget_zip",
           "fsync_default", "ingest", "ingest_files", "list_zips", "outcome", "plan", "rounds", "select",
           "zip_inputs"]
