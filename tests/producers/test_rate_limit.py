"""The control-command rate limit, on an injected clock."""

from __future__ import annotations

import pytest

from producers.rate_limit import TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_passes_then_the_rate_holds():
    clock = Clock()
    bucket = TokenBucket(rate_per_s=2.0, burst=3, clock=clock)
    assert [bucket.take() for _ in range(5)] == [True, True, True, False, False]
    clock.now = 0.5  # one token back
    assert bucket.take() and not bucket.take()


def test_tokens_never_exceed_the_burst_after_a_long_idle():
    clock = Clock()
    bucket = TokenBucket(rate_per_s=10.0, burst=2, clock=clock)
    clock.now = 3600.0
    assert [bucket.take() for _ in range(3)] == [True, True, False]


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError):
        TokenBucket(rate_per_s=0, burst=1)
