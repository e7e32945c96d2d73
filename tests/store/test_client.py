"""The client's reads on the real QuestDB: the Parquet export and the values written into its statements."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from feefifofunds.store import client


def test_an_export_holds_what_pgwire_answers(questdb):
    start = client.literal(datetime(2024, 1, 1, tzinfo=UTC))
    sql = f"SELECT x::int n, x * 0.1 price, 'a''b' text, dateadd('h', x::int, {start}) at FROM long_sequence(5)"
    table = client.export(sql)
    assert table.column_names == ["n", "price", "text", "at"]
    over_pgwire = client.query(sql)
    assert [tuple(row.values()) for row in table.to_pylist()] == [
        (n, price, text, at.replace(tzinfo=UTC)) for n, price, text, at in over_pgwire]


def test_an_export_the_server_refuses_is_an_error_naming_why(questdb):
    with pytest.raises(client.QuestDBError, match="refused an export.*Invalid column: nope"):
        client.export("SELECT nope FROM long_sequence(1)")


def test_literals_are_quoted_and_times_are_utc():
    assert client.literal(42) == "42"
    assert client.literal("it's") == "'it''s'"
    two_hours_east = timezone(timedelta(hours=2))
    assert client.literal(datetime(2024, 1, 1, 2, tzinfo=two_hours_east)) == "'2024-01-01T00:00:00.000000Z'"
    with pytest.raises(TypeError):
        client.literal(1.5)
    with pytest.raises(TypeError):
        client.literal(True)
