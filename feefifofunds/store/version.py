"""Is this QuestDB new enough for DEDUP? (7.3 or later.)"""

from __future__ import annotations

from dataclasses import dataclass

from .client import parse_build

DEDUP_MIN_VERSION = (7, 3)


@dataclass(frozen=True)
class VersionCheck:
    version: str
    supports_dedup: bool


def check_build(build: str) -> VersionCheck:
    major, minor, patch = parse_build(build)
    return VersionCheck(f"{major}.{minor}.{patch}", (major, minor) >= DEDUP_MIN_VERSION)
