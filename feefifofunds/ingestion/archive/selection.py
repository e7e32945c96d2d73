"""What one run takes from a data directory: its loose CSV files and the members of its zips (or of one
zip), filtered by tier and interval, and what it leaves (skipped names, unreadable zips, pending members)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from feefifofunds.catalog import asset_tiers
from feefifofunds.sources.kraken_archive import ArchiveFile, SkippedFile, discover

from .inputs import ArchiveInput, LooseFiles
from .zips import ZipArchive, list_zips, zip_inputs


@dataclass
class Selection:
    files: list[ArchiveFile]  # loose CSV files to ingest
    loose: LooseFiles
    zips: list[ZipArchive]  # every readable zip (its ``files``: the members to ingest)
    skipped: list[SkippedFile]
    unreadable: list[SkippedFile]
    tiers: dict[str, str]  # every base seen, its tier

    @property
    def members(self) -> list[ArchiveFile]:
        return [f for z in self.zips for f in z.files]

    @property
    def inputs(self) -> list[ArchiveInput]:
        return ([self.loose] if self.files else []) + [z for z in self.zips if z.files]

    def close(self) -> None:
        for z in self.zips:
            z.close()


def select(data_dir: Path, *, store: str, ingested_dir: Path, only_zip: Path | None = None, tier: str = "ALL",
           intervals: set[int] | None = None, fsync: bool = False) -> Selection:
    """The run's inputs. ``only_zip``: that zip alone (``data_dir`` is its folder). A zip whose members are
    all done already moves now. Raises OSError (listing the folder) and DatabaseError (the catalog)."""
    if only_zip is None:
        found = discover(data_dir, intervals=intervals)
        loose, skipped, zip_paths = found.files, found.skipped, found.zips
    else:
        loose, skipped, zip_paths = [], [], [only_zip]
    listings, unreadable = list_zips(zip_paths, data_dir)
    skipped += [s for listing in listings for s in listing.skipped]
    tiers = asset_tiers({f.base for f in loose} | {m.base for z in listings for m in z.members})
    files = [f for f in loose if tier == "ALL" or tiers[f.base] == tier]

    def wanted(f: ArchiveFile) -> bool:
        return (not intervals or f.interval_minutes in intervals) and (tier == "ALL" or tiers[f.base] == tier)

    zips = zip_inputs(listings, store=store, root=data_dir, ingested_dir=ingested_dir, wanted=wanted, fsync=fsync)
    return Selection(files, LooseFiles(files, data_dir, ingested_dir, fsync=fsync), zips, skipped, unreadable,
                     tiers)
