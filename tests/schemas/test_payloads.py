"""The models are the source of truth; the checked-in JSON Schemas must match them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import jsonschema
import pytest
from pydantic import ValidationError

from schemas import (
    TOPICS,
    ControlEvent,
    MetricEvent,
    profile_for,
    severity_for,
)
from schemas.__main__ import render, schema_file
from schemas.dead_letter import DeadLetter
from schemas.profiles import server_name
from schemas.severity import SEVERITIES, rank

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("spec", TOPICS, ids=lambda s: s.role)
def test_checked_in_json_schema_matches_model(spec):
    path = schema_file(spec.payload)
    assert path.exists(), f"run `python -m schemas` to write {path.name}"
    assert path.read_text() == render(spec.payload), f"{path.name} is stale: run python -m schemas"


@pytest.mark.parametrize("spec", TOPICS, ids=lambda s: s.role)
def test_every_payload_carries_schema_version(spec):
    schema = json.loads(schema_file(spec.payload).read_text())
    assert "schema_version" in schema["properties"]


def test_metric_event_json_validates_against_its_schema():
    event = MetricEvent(server_id="ppdb001", timestamp=NOW, cpu_pct=12.5, mem_pct=90.0)
    schema = json.loads(schema_file(MetricEvent).read_text())
    jsonschema.validate(json.loads(event.to_bytes()), schema)
    assert MetricEvent.from_bytes(event.to_bytes()) == event


def test_control_event_example_from_the_contract():
    raw = (b'{"schema_version":1, "command":"set_scenario", "scenario":"critical", '
           b'"servers":["ppdb001"]}')
    event = ControlEvent.model_validate_json(raw)
    assert event.scenario == "critical" and event.servers == ["ppdb001"]
    jsonschema.validate(json.loads(raw), json.loads(schema_file(ControlEvent).read_text()))


@pytest.mark.parametrize(
    "payload, fragment",
    [
        ({"server_id": "", "timestamp": "2026-01-01T00:00:00Z", "cpu_pct": 1}, "empty"),
        ({"server_id": "a" * 65, "timestamp": "2026-01-01T00:00:00Z", "cpu_pct": 1}, "longer"),
        ({"server_id": "pp\x07db", "timestamp": "2026-01-01T00:00:00Z", "cpu_pct": 1}, "letters"),
        ({"server_id": "ppdb001", "timestamp": "2026-01-01T00:00:00Z", "cpu_pct": 101}, "outside"),
        ({"server_id": "ppdb001", "timestamp": "2026-01-01T00:00:00Z", "error_rate": -1},
         "outside"),
        ({"server_id": "ppdb001", "timestamp": "2026-01-01T00:00:00Z"}, "no metric"),
        ({"server_id": "ppdb001", "timestamp": "2026-01-01T00:00:00", "cpu_pct": 1}, "timezone"),
        ({"server_id": "ppdb001", "timestamp": "2026-01-01T00:00:00Z", "cpu_pct": "x"}, "number"),
        ({"server_id": "ppdb001", "timestamp": "2026-01-01T00:00:00Z", "cpu": 1}, "Extra"),
    ],
)
def test_metric_event_rejects_bad_values_with_a_reason(payload, fragment):
    with pytest.raises(ValidationError) as info:
        MetricEvent.model_validate(payload)
    assert fragment.lower() in str(info.value).lower()


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_metric_event_rejects_non_finite_numbers(literal):
    raw = b'{"server_id":"ppdb001","timestamp":"2026-01-01T00:00:00Z","cpu_pct":' + literal + b"}"
    with pytest.raises(ValidationError):
        MetricEvent.model_validate_json(raw)


def test_control_event_rejects_unknown_scenario():
    with pytest.raises(ValidationError):
        ControlEvent.model_validate({"scenario": "meltdown"})


@pytest.mark.parametrize(
    "score, level",
    [(0, "healthy"), (29.9, "healthy"), (30, "watch"), (49.9, "watch"), (50, "degrading"),
     (60, "warning"), (70, "danger"), (79.9, "danger"), (80, "critical"), (89.9, "critical"),
     (90, "imminent_failure"), (100, "imminent_failure")],
)
def test_severity_levels_follow_the_contract(score, level):
    assert severity_for(score) == level


def test_severities_are_ordered():
    assert [rank(s) for s in SEVERITIES] == list(range(7))


@pytest.mark.parametrize(
    "server_id, profile",
    [("ppml0001", "ml_compute"), ("ppdb001", "database"), ("ppweb003", "web_api"),
     ("ppcon01", "conductor_mgmt"), ("ppdi001", "data_ingest"), ("ppra001", "risk_analytics"),
     ("ppsrv001", "generic"), ("PPDB042", "database"), ("mail-7", "generic")],
)
def test_profile_from_name_prefix(server_id, profile):
    assert profile_for(server_id) == profile


def test_server_names_follow_the_original_fleet():
    names = [server_name(p, 1) for p in ("ml_compute", "database", "conductor_mgmt")]
    assert names == ["ppml0001", "ppdb001", "ppcon01"]


def test_dead_letter_keeps_the_original_bytes():
    raw = bytes(range(256))
    letter = DeadLetter.reject(stage="process", reason="bad", source_topic="t", value=raw, key=b"k")
    again = DeadLetter.model_validate_json(letter.to_bytes())
    assert again.payload() == raw and again.reason == "bad"


@pytest.mark.parametrize("bad", ["x\n", "ppdb001\n", "\nppdb001", "ppdb001\r\n"])
def test_a_server_id_with_a_line_break_is_refused(bad):
    from schemas.metric_event import MetricEvent

    with pytest.raises(ValidationError, match="may hold only"):
        MetricEvent(server_id=bad, timestamp="2026-03-02T00:00:00Z", cpu_pct=1.0)


def test_the_json_schema_carries_the_anchored_server_id_pattern():
    import re

    from schemas.metric_event import MetricEvent

    rule = MetricEvent.model_json_schema()["properties"]["server_id"]
    assert rule["maxLength"] == 64 and rule["minLength"] == 1
    assert re.search(rule["pattern"], "ppdb001") and re.search(rule["pattern"], "a.b_c-9")
    for bad in ("x\n", "-x", "x y", ""):
        assert not re.search(rule["pattern"], bad)
