"""Is this QuestDB new enough for DEDUP? (7.3 or later.)"""

from __future__ import annotations

from dataclasses import dataclass

from .client import parse_build

DEDUP_MIN_VERSION = (7, 3)
RULE = "─" * 60


@dataclass(frozen=True)
class VersionCheck:
    version: str
    supports_dedup: bool


def check_build(build: str) -> VersionCheck:
    major, minor, patch = parse_build(build)
    return VersionCheck(f"{major}.{minor}.{patch}", (major, minor) >= DEDUP_MIN_VERSION)


def render(check: VersionCheck) -> str:
    """The report in the command reference's layout."""
    lines = ["🔍 Checking QuestDB Version", RULE, "", f"📊 QuestDB Version: {check.version}", "",
             "📋 Feature Compatibility:"]
    if check.supports_dedup:
        lines += ["   ✅ DEDUP support: YES (7.3+ required)", "   ✅ Ready for deduplication migrations", "",
                  RULE, "", "✅ QuestDB version is compatible!", "", "Next steps:",
                  "  1. Fake-apply schema migration: python manage.py migrate feefifofunds 0003 --fake",
                  "  2. Apply DEDUP migration: python manage.py migrate feefifofunds"]
    else:
        lines += ["   ❌ DEDUP support: NO (7.3+ required)", "   ❌ Not ready for deduplication migrations", "",
                  RULE, "", f"❌ QuestDB {check.version} is too old: DEDUP needs 7.3 or later.", "",
                  "Next steps:", "  1. Upgrade QuestDB to 7.3 or later (make services runs a current one)",
                  "  2. Run this check again: python manage.py check_questdb_version"]
    return "\n".join(lines)
