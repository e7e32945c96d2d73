"""Catalog rows many at once (real PostgreSQL): one statement, a conflict kept or updated."""

import pytest
from django.db import transaction

from feefifofunds.models import KeptSeries, ZipMemberDone
from feefifofunds.store.rows import insert_rows

pytestmark = pytest.mark.django_db

MEMBER = ["store", "zip_name", "zip_size", "zip_digest", "member", "done_at"]
KEY = ["store", "asset_id", "interval_minutes", "quote_currency", "source"]
COVER = ["first_us", "last_us", "candles", "missing", "open_gaps", "regular", "calendar"]


def test_rows_go_in_together_and_a_row_already_there_is_kept():
    from django.db import connection
    from django.utils import timezone

    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with transaction.atomic():
        insert_rows(ZipMemberDone, MEMBER, [("s", "z.zip", 1, "d", f"m{i}", now) for i in range(3)], ignore=True)
        insert_rows(ZipMemberDone, MEMBER, [("s", "z.zip", 1, "d", f"m{i}", now) for i in range(2, 5)], ignore=True)
    assert sorted(ZipMemberDone.objects.values_list("member", flat=True)) == ["m0", "m1", "m2", "m3", "m4"]


def test_a_conflict_on_the_key_updates_the_other_fields():
    insert_rows(KeptSeries, KEY + COVER, [("s", 1, 60, "USD", "kraken", 0, 3600, 2, 0, 0, True, "24/7")], KEY)
    insert_rows(KeptSeries, KEY + COVER, [("s", 1, 60, "USD", "kraken", 0, 7200, 3, 0, 0, True, "24/7"),
                                          ("s", 2, 60, "USD", "kraken", 0, 0, 1, 0, 0, True, "24/7")], KEY)
    assert sorted(KeptSeries.objects.values_list("asset_id", "last_us", "candles")) == [(1, 7200, 3), (2, 0, 1)]
