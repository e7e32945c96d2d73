"""Calling the JSON API from tests (Django's test client): a JSON answer, every page of candles, times as
the API writes them."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def get(client_, url, **params):
    response = client_.get(url, params)
    assert response["Content-Type"].startswith("application/json")
    return response.status_code, response.json()


def frame_of(candles: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(candles).with_columns(
        pl.col("time").str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", time_unit="us", time_zone="UTC")
        if candles and "." in candles[0]["time"]
        else pl.col("time").str.to_datetime("%Y-%m-%dT%H:%M:%SZ", time_unit="us", time_zone="UTC"))


def all_pages(client_, **params) -> tuple[list[dict], int]:
    rows, pages, cursor = [], 0, None
    while True:
        extra = {"cursor": cursor} if cursor else {}
        status, body = get(client_, "/api/candles", **params, **extra)
        assert status == 200, body
        rows += body["candles"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return rows, pages
        assert body["next"].startswith("/api/candles?") and "cursor=" in body["next"]
