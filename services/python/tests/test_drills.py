"""Scenarios and FIS templates run with `meridian drill run --json`, their
reports read as objects."""

from __future__ import annotations

from pathlib import Path

import pytest

from meridian_testkit import Cluster, DrillError, run_drill

REPO = Path(__file__).resolve().parents[3]

SCENARIO = """
name = "testkit-cut"
description = "a short transatlantic cut, for the Python library's tests"
duration = "6s"
settle = "30s"

[regions]
names = ["us-east-1", "eu-west-1", "ap-southeast-1"]
rtt_ms = { "us-east-1" = { "eu-west-1" = 70, "ap-southeast-1" = 200 }, "eu-west-1" = { "ap-southeast-1" = 160 } }

[workload]
rate_per_region = 20
keys = 50
mix = { put = 50, update = 30, get = 20 }

[[event]]
at = "1s"
action = "partition"
from = "us-east-1"
to = "eu-west-1"
both = true

[[event]]
at = "4s"
action = "heal"
"""


def test_a_simulated_scenario_reports_its_verdict_and_every_link(tmp_path: Path) -> None:
    path = tmp_path / "cut.toml"
    path.write_text(SCENARIO)
    r = run_drill(path, sim=True, seed=7, out=tmp_path / "out")
    assert r.ok and r.verdict.converged and r.verdict.oracle_match
    assert (r.scenario, r.mode, r.seed) == ("testkit-cut", "sim", 7)
    assert len(r.links) == 6
    # The cut link's latency over the drill includes writes held back by it.
    us_eu = r.link("us-east-1", "eu-west-1")
    assert us_eu.max_ms is not None and us_eu.max_ms >= 1000
    assert r.workload.acked > 0 and r.workload.failed == 0
    assert r.conflicts >= r.lost_updates >= 0
    assert r.report_json.is_file() and r.report_html.is_file()
    assert r.raw["verdict"]["ok"] is True
    # The same seed gives the same report, byte for byte.
    again = run_drill(path, sim=True, seed=7, out=tmp_path / "again")
    assert again.report_json.read_bytes() == r.report_json.read_bytes()


def test_an_fis_template_runs_as_a_drill(tmp_path: Path) -> None:
    template = REPO / "simulations" / "fis" / "pause-replication.json"
    r = run_drill(template, sim=True, seed=1, time_scale=600, out=tmp_path / "fis")
    assert r.ok, r.verdict.problems
    # PT12M at 600 times: a pause of 1.2 s, of the template's table at the
    # replica its ARN names.
    pauses = [e for e in r.raw["events"] if e["action"] == "pause-replication"]
    assert len(pauses) == 1 and "orders at eu-west-1 for 1200 ms" in pauses[0]["label"], r.raw["events"]


def test_a_drill_that_cannot_run_raises_saying_why(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(SCENARIO.replace('duration = "6s"', 'duration = "0s"'))
    with pytest.raises(DrillError, match="duration"):
        run_drill(bad, sim=True, out=tmp_path / "bad")
    with pytest.raises(DrillError, match="does not exist"):
        run_drill(tmp_path / "missing.toml", sim=True)
    with pytest.raises(DrillError, match="time_scale"):
        run_drill(bad, sim=True, time_scale=0)


def test_a_simulated_drill_takes_no_running_cluster(meridian_cluster: Cluster, tmp_path: Path) -> None:
    path = tmp_path / "cut.toml"
    path.write_text(SCENARIO)
    with pytest.raises(DrillError, match="sim"):
        meridian_cluster.run_drill(path, sim=True)
