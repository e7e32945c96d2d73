from feefifofunds.cli.version import render
from feefifofunds.store.version import check_build


def test_render_too_old():
    text = render(check_build("Build Information: QuestDB 7.2.1, JDK 11"))
    assert "📊 QuestDB Version: 7.2.1" in text and "❌ DEDUP support: NO" in text
    assert "too old" in text
