import gc

import pytest

from feefifofunds.gcpause import paused_gc


def test_collector_paused_inside_and_back_after():
    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_collector_back_after_an_error():
    with pytest.raises(ValueError), paused_gc():
        raise ValueError("boom")
    assert gc.isenabled()


def test_a_collector_disabled_before_stays_disabled():
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_what_the_step_made_is_left_out_of_later_collections():
    frozen = gc.get_freeze_count()
    try:
        with paused_gc():
            made = [[i] for i in range(10_000)]  # lists: objects the collector tracks
        assert gc.get_freeze_count() >= frozen + len(made)
        assert not any(obj is made for obj in gc.get_objects())  # in no generation the collector walks
    finally:
        gc.unfreeze()
