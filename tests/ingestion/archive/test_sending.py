"""The archive job with flushes running in the background (small flushes, so several are in flight over
a run): a refused flush still fails only its own file, and every other file is archived once acknowledged."""

import pytest

from feefifofunds.ingestion.writer import PriceWriter
from feefifofunds.store import client
from tests.support.archive import candle_lines, write_file
from tests.support.archive_job import UnserializableFor, run

pytestmark = pytest.mark.django_db(transaction=True)
PAIRS = ("ADAUSD", "DOTUSD", "ETHUSD", "LINKUSD", "SOLUSD", "XBTUSD")


class TextFor(UnserializableFor):
    """Serializes trade counts as text where ETH's rows are: the server refuses the flushes that hold them."""

    values = "text"


@pytest.mark.parametrize("part_rows", [1_000_000, 50], ids=["one-part", "parts-sent-while-staging"])
@pytest.mark.parametrize("writer_class", [PriceWriter, TextFor])
def test_background_flushes_archive_each_file_once_acknowledged(questdb, tmp_path, writer_class, part_rows):
    data = tmp_path / "data"
    for pair in PAIRS:
        write_file(data / f"{pair}_60.csv", candle_lines(60, 40))
    # A flush every second file; with 50-row parts, each file is sent in the background while the next
    # one is staged.
    summary = run(data, writer_class=writer_class, flush_rows=70, part_rows=part_rows)
    ok = {r.file.pair for r in summary.results if r.status == "ingested"}
    expected = set(PAIRS) - ({"ETHUSD"} if writer_class is TextFor else set())
    assert ok == expected and len(summary.results) == len(PAIRS)
    assert {p.name for p in (tmp_path / "ingested" / "ohlcv").iterdir()} == {f"{p}_60.csv" for p in expected}
    if writer_class is TextFor:
        assert [r.file.pair for r in summary.failed] == ["ETHUSD"] and (data / "ETHUSD_60.csv").exists()
    client.wait_for_wal("assetprice")
    assert client.query("SELECT count() FROM assetprice")[0][0] == 40 * len(expected) == summary.rows
