"""The CLI's outside: the subcommands others build on, and clear refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.settings import Settings
from fleetcast.cli import build_parser, main
from fleetcast.stack import child_env, stack_children
from schemas.topics import TOPICS

SUBCOMMANDS = {"up", "broker", "produce", "process", "infer", "api", "ui", "scenario", "alerts",
               "train", "evaluate", "calibrate", "replay"}


def test_every_documented_subcommand_exists():
    parser = build_parser()
    for name in SUBCOMMANDS:
        assert parser.parse_args([name, *(["critical"] if name == "scenario" else []),
                                  *(["x.csv"] if name == "replay" else []),
                                  *(["--out", "r"] if name == "evaluate" else []),
                                  *(["--data", "x"] if name == "calibrate" else [])]
                                 ).command == name


def test_up_takes_the_documented_flags():
    args = build_parser().parse_args(["up", "--bootstrap", "k:9092", "--servers", "5",
                                      "--speed", "60", "--no-ui", "--no-host"])
    assert (args.bootstrap, args.servers, args.speed, args.no_ui, args.no_host) == (
        "k:9092", 5, 60.0, True, True)


def test_up_runs_this_host_as_a_source_beside_the_simulator_unless_told_not_to():
    commands = {c.name: c.argv[-3:] for c in stack_children(ui=False, host=True)}
    assert commands["host"] == ["produce", "--source", "host"]
    assert "ui" not in commands and commands["produce"][-1] == "produce"
    assert "host" not in {c.name for c in stack_children(host=False)}


@pytest.mark.parametrize("argv, message", [
    (["produce", "--source", "prometheus"], "needs --url"),
    (["produce", "--url", "http://n:9100/metrics"], "need --source host or prometheus"),
    (["produce", "--source", "host", "--url", "http://n:9100/metrics"], "--url is for"),
    (["produce", "--source", "host", "--server", "bad id"], "invalid server id"),
    (["produce", "--source", "prometheus", "--url", "n:9100"], "http(s) URL"),
    (["produce", "--source", "host", "--interval", "0"], "source_interval_s"),
    (["alerts", "--forward", "webhook"], "needs --url"),
    (["alerts", "--forward", "alertmanager", "--url", "am:9093"], "http(s) URL"),
])
def test_real_sources_and_forwarders_refuse_bad_arguments_before_any_kafka(
    argv, message, capsys, monkeypatch
):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")  # nothing must be needed
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_unknown_scenario_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as info:
        main(["scenario", "meltdown"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_invalid_server_id_is_refused_before_anything_is_sent(capsys, monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")  # nothing must be needed
    assert main(["scenario", "critical", "--servers", "ok1,bad id"]) == 2
    assert "servers.1" in capsys.readouterr().err


def test_bad_settings_in_the_environment_are_a_clear_error(capsys, monkeypatch):
    monkeypatch.setenv("FLEETCAST_SPEED", "fast")
    assert main(["scenario", "critical"]) == 2
    assert "speed" in capsys.readouterr().err


def test_settings_read_the_environment(monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka:19092")
    monkeypatch.setenv("FLEETCAST_TOPIC_ALERTS", "ops.alerts")
    monkeypatch.setenv("FLEETCAST_KAFKA_SASL_MECHANISM", "PLAIN")
    settings = Settings()
    assert settings.kafka_bootstrap_servers == "kafka:19092"
    assert settings.topic("alerts") == "ops.alerts"
    assert settings.kafka_security()["sasl.mechanism"] == "PLAIN"
    assert set(settings.topic_names) == {spec.role for spec in TOPICS}


def test_children_get_the_parent_settings(monkeypatch):
    settings = Settings(kafka_bootstrap_servers="h:1", servers=7, api_token="s3cret")
    env = child_env(settings)
    monkeypatch.setattr("os.environ", env)
    again = Settings()
    assert (again.kafka_bootstrap_servers, again.servers) == ("h:1", 7)
    assert again.api_token is not None and again.api_token.get_secret_value() == "s3cret"


@pytest.mark.parametrize(("kind", "extra"), [
    ("inference", []), ("bf16", []), ("pipeline", ["--servers", "5"]), ("load", []), ("ui", []),
    ("ws", []),
])
def test_every_bench_kind_parses_to_its_own_handler(kind: str, extra: list[str]) -> None:
    from fleetcast.bench import BENCHES

    args = build_parser().parse_args(["bench", kind, *extra])
    assert args.bench == kind and callable(args.bench_handler)
    assert len(BENCHES) == 4  # inference/bf16/pipeline, load, ui, ws: one list, one registration


@pytest.mark.parametrize(("argv", "message"), [
    (["evaluate", "--out", "r", "--data", "x.csv", "--alerts"],
     "--alerts: only with --format bitbrains"),
    (["evaluate", "--out", "r", "--format", "bitbrains"], "needs --data PARQUET"),
    (["evaluate", "--out", "r", "--format", "bitbrains", "--simulate", "2"],
     "--simulate does not apply"),
    (["evaluate", "--out", "r", "--format", "bitbrains", "--data", "/no/such.parquet"],
     "no such file: /no/such.parquet"),
    (["evaluate", "--out", "r", "--format", "bitbrains", "--data", "x", "--alert-every", "7"],
     "--alert-every: 7 is not a positive multiple of 5"),
    (["evaluate", "--out", "r", "--format", "bitbrains", "--data", "x", "--vms", "ten"],
     "--vms: 'ten' is neither a count nor a list"),
    (["evaluate", "--out", "r", "--format", "bitbrains", "--data", "x", "--from", "2013-08-05",
      "--to", "2013-08-01"], "--from 2013-08-05 must come before --to 2013-08-01"),
    (["evaluate", "--out", "r", "--format", "bitbrains", "--data", "x", "--to", "soon"],
     "--to: 'soon' is not a date"),
    (["calibrate", "--data", "/no/such.parquet"], "no such file"),
    (["replay", "x.parquet", "--format", "bitbrains", "--metric", "cpu_pct"],
     "--metric, --server and --scale apply to --format nab only"),
    (["replay", "x.csv", "--vms", "3"], "--vms, --from and --to need --format bitbrains"),
])
def test_bitbrains_commands_refuse_bad_arguments_with_exit_2(capsys, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_vms_is_a_count_or_a_list():
    from fleetcast.cli import _vms

    assert _vms("100") == 100
    assert _vms("3,17") == [3, 17]
    assert _vms("bbvm3,bbvm17") == [3, 17]
    assert _vms("bbvm3") == [3]
    assert _vms(None) is None


JULY = Path(__file__).resolve().parents[2].parent / "shared/data/bitbrains/rnd-2013-07.parquet"


@pytest.mark.skipif(not JULY.is_file(), reason=f"the Bitbrains trace is not at {JULY}")
def test_calibrate_writes_the_model_folders_calibration(trained_model_dir, tmp_path, capsys):
    import shutil

    from inference_worker.breach import Calibration
    from inference_worker.tft.artifacts import resolve

    model = tmp_path / "model"
    shutil.copytree(trained_model_dir, model)
    assert main(["calibrate", "--model", str(model), "--data", str(JULY), "--vms", "2",
                 "--from", "2013-07-24", "--to", "2013-07-25T12:00", "--threads", "1"]) == 0
    # Into the model folder itself (the one "latest" names, for a models directory).
    saved = json.loads((resolve(model) / "calibration.json").read_text())
    assert set(saved) == {"p_30m", "p_8h"}
    for curve in saved.values():
        Calibration.from_json(curve)  # valid knots: monotone, in [0, 1]
    assert "pairs" in capsys.readouterr().out


AUGUST = JULY.with_name("rnd-2013-08.parquet")


@pytest.mark.broker
@pytest.mark.skipif(not AUGUST.is_file(), reason=f"the Bitbrains trace is not at {AUGUST}")
def test_replay_bitbrains_publishes_a_vms_steps_as_metric_events(
        make_settings, read_topic, monkeypatch):
    from schemas.metric_event import MetricEvent

    settings = make_settings()
    monkeypatch.setattr("fleetcast.cli._settings", lambda **_: settings)
    assert main(["replay", str(AUGUST), "--format", "bitbrains", "--vms", "bbvm1",
                 "--from", "2013-08-01T00:00", "--to", "2013-08-01T01:00"]) == 0
    metrics = read_topic(settings, settings.topic_metrics)
    seen = metrics.wait_for(lambda messages: len(messages) >= 12, 20.0)
    metrics.poll(1.0)  # and nothing more
    events = [MetricEvent.model_validate_json(m.value() or b"") for m in seen]
    assert len(events) == 12 and {m.key() for m in seen} == {b"bbvm1"}
    # One event per 5-minute step, on the clock, with the trace's four metrics only.
    assert [e.timestamp.minute for e in events] == list(range(0, 60, 5))
    assert all(e.cpu_pct is not None and e.disk_pct is None for e in events)


def test_evaluate_without_accuracy_needs_alerts(capsys, tmp_path):
    argv = ["evaluate", "--format", "bitbrains", "--data", str(tmp_path / "aug.parquet"),
            "--no-accuracy", "--out", str(tmp_path / "out")]
    assert main(argv) == 2
    assert "--no-accuracy leaves nothing to do without --alerts" in capsys.readouterr().err
