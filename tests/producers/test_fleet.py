from __future__ import annotations

from collections import Counter

import pytest

from producers.fleet import ORIGINAL_MIX, default_fleet, profile_counts
from schemas.profiles import PROFILES, profile_for, server_name

ORIGINAL_FLEET = [
    *(f"ppml{i:04d}" for i in range(1, 11)),
    "ppdb001", "ppdb002", "ppdb003",
    "ppweb001", "ppweb002", "ppweb003",
    "ppcon01", "ppdi001", "ppra001", "ppsrv001",
]


def test_default_fleet_is_the_original_twenty() -> None:
    assert default_fleet() == ORIGINAL_FLEET
    assert default_fleet(20) == ORIGINAL_FLEET


def test_original_fleet_profiles() -> None:
    counts = Counter(profile_for(name) for name in default_fleet(20))
    assert counts == ORIGINAL_MIX


@pytest.mark.parametrize("n", [7, 8, 10, 13, 19, 20, 21, 40, 99, 100, 1000, 12345])
def test_other_sizes_keep_every_profile_and_sum_to_n(n: int) -> None:
    fleet = default_fleet(n)
    assert len(fleet) == n
    assert len(set(fleet)) == n
    counts = Counter(profile_for(name) for name in fleet)
    assert set(counts) == set(PROFILES)
    assert counts == profile_counts(n)
    # Bigger profiles never get fewer servers than smaller ones.
    assert counts["ml_compute"] >= counts["database"] >= counts["conductor_mgmt"]


@pytest.mark.parametrize("n", [20, 21, 40, 99, 100, 1000, 12345])
def test_proportions_follow_the_original_mix(n: int) -> None:
    counts = profile_counts(n)
    total = sum(ORIGINAL_MIX.values())
    for profile, share in ORIGINAL_MIX.items():
        assert abs(counts[profile] - n * share / total) < 1, profile


@pytest.mark.parametrize("n", [1, 2, 3, 6])
def test_tiny_fleets_get_one_server_per_profile(n: int) -> None:
    fleet = default_fleet(n)
    assert len(fleet) == n
    assert len({profile_for(name) for name in fleet}) == n
    assert fleet[0] == "ppml0001"


def test_servers_are_numbered_from_one_per_profile() -> None:
    fleet = default_fleet(100)
    for profile, count in profile_counts(100).items():
        expected = [server_name(profile, i) for i in range(1, count + 1)]
        assert [name for name in fleet if profile_for(name) == profile] == expected


def test_deterministic() -> None:
    assert default_fleet(333) == default_fleet(333)


def test_empty_and_negative() -> None:
    assert default_fleet(0) == []
    with pytest.raises(ValueError, match="negative"):
        default_fleet(-1)
