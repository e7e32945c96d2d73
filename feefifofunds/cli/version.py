"""What ``check_questdb_version`` prints: the version check in the command reference's layout."""

from __future__ import annotations

from feefifofunds.store.version import VersionCheck

RULE = "─" * 60
TITLE = "🔍 Checking QuestDB Version"


def heading() -> str:
    """The title alone: what is printed before an error when the server cannot be asked."""
    return f"{TITLE}\n{RULE}\n"


def render(check: VersionCheck) -> str:
    """The report in the command reference's layout."""
    lines = [TITLE, RULE, "", f"📊 QuestDB Version: {check.version}", "",
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
