"""The sealing rule shared by the bridge and the simulation side of its worker."""

from __future__ import annotations

import pytest

from chain.batching import SealRule


def test_interval_seals_before_a_late_record_and_at_a_tick() -> None:
    rule = SealRule(batch_size=10, batch_interval_s=60.0)
    assert not rule.due(0.0)  # nothing queued: nothing to seal
    assert not rule.add(5.0)
    assert not rule.due(64.9)
    assert rule.due(65.0)  # the oldest record is 60 s old
    rule.sealed()
    assert rule.queued == 0 and not rule.due(1e9)
    rule.add(70.0)
    rule.add(200.0)  # a later record does not restart the clock
    assert rule.due(130.0) and rule.oldest_s == 70.0


def test_size_seals_after_the_record_that_fills_the_batch() -> None:
    rule = SealRule(batch_size=3, batch_interval_s=3600.0)
    assert [rule.add(float(t)) for t in range(3)] == [False, False, True]
    rule.sealed()
    assert not rule.add(3.0) and rule.oldest_s == 3.0


@pytest.mark.parametrize(
    ("size", "interval", "message"),
    [
        (0, 1.0, "batch_size=0 must be an int >= 1"),
        (True, 1.0, "batch_size=True must be an int >= 1"),
        (1 << 21, 1.0, "above the limit"),
        (4, 0.0, "batch_interval_s=0.0 must be a number > 0"),
        (4, float("nan"), "batch_interval_s=nan must be a number > 0"),
    ],
)
def test_bad_settings_are_named(size, interval, message) -> None:
    with pytest.raises(ValueError, match=message):
        SealRule(size, interval)
