import pytest

from feefifofunds.store.client import QuestDBError, parse_build
from feefifofunds.store.version import check_build


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        ("Build Information: QuestDB 9.3.4, JDK 24.0.2, Commit Hash 9ea3", (9, 3, 4)),
        ("Build Information: QuestDB Enterprise 3.0.1, JDK 17", (3, 0, 1)),
        ("Build Information: QuestDB 10.0, JDK 25", (10, 0, 0)),
    ],
)
def test_parse_build(build, expected):
    assert parse_build(build) == expected


def test_version_text_is_not_a_questdb_version():
    with pytest.raises(QuestDBError):
        parse_build("PostgreSQL 12.3, compiled by Visual C++ build 1914, 64-bit, QuestDB")


@pytest.mark.parametrize(("build", "ok"), [("QuestDB 7.2.1", False), ("QuestDB 7.3.0", True),
                                           ("QuestDB 6.9.9", False), ("QuestDB 10.0.0", True)])
def test_dedup_threshold(build, ok):
    assert check_build(f"Build Information: {build}, JDK 17").supports_dedup is ok
