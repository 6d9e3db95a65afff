"""The conflict log as objects: two regions writing one item while cut
apart meet when the partition ends, and the log says which write lost."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import unique

from meridian_testkit import Cluster, Version

US, EU, AP = "us-east-1", "eu-west-1", "ap-southeast-1"


@pytest.fixture(scope="module")
def conflicted(meridian_cluster: Cluster, table: str) -> str:
    """A key US and EU wrote while cut apart; answers it once converged."""
    c = meridian_cluster
    c.wait_converged(timeout=30)
    k = unique()
    with c.partition(US, EU):
        c.resource(US).Table(table).put_item(Item={"pk": k, "by": US})
        c.resource(EU).Table(table).put_item(Item={"pk": k, "by": EU})
    c.wait_converged([table], timeout=30)
    return k


def test_a_write_lost_to_a_concurrent_one_is_in_the_conflict_log(
    meridian_cluster: Cluster, table: str, conflicted: str,
) -> None:
    c, k = meridian_cluster, conflicted
    final = c.resource(AP).Table(table).get_item(Key={"pk": k})["Item"]
    mine = [x for x in c.conflicts(table=table) if x.key_matches({"pk": k})]
    assert mine, "no region recorded the conflict"
    for x in mine:
        assert x.winner > x.loser
        assert {x.winner.origin, x.loser.origin} == {US, EU}
        assert x.winner_item == final
        assert x.lost_item is not None and x.lost_item["by"] == x.loser.origin
        assert x.lost_update
        assert x.why in ("later physical time", "same physical time, higher logical counter",
                         "same timestamp, origin region breaks the tie")
        assert x.detected_by in (US, EU, AP)
    # The winner is the later write everywhere.
    assert final["by"] == mine[0].winner.origin


def test_the_conflict_log_reads_the_same_through_the_cli(
    meridian_cluster: Cluster, table: str, conflicted: str,
) -> None:
    """Attached without a dashboard, the library reads the log with
    `meridian conflicts` and status with `meridian net show --json`."""
    c = meridian_cluster
    cli = Cluster(c.regions, c.endpoints, dataclasses.replace(c.control, dashboard=None))
    via_dash = {(x.winner, x.loser, x.detected_by) for x in c.conflicts(US, limit=200)}
    via_cli = {(x.winner, x.loser, x.detected_by) for x in cli.conflicts(US, limit=200)}
    # The dashboard gives the newest, the CLI the oldest: below 200 they agree.
    assert via_dash == via_cli
    assert any(x.key_matches({"pk": conflicted}) for x in cli.conflicts(table=table))
    assert {r["name"] for r in cli.status()["regions"]} == {US, EU, AP}


def test_versions_order_as_last_writer_wins_does() -> None:
    a = Version.parse("1763683200.123456+0@eu-west-1")
    assert str(a) == "1763683200.123456+0@eu-west-1"
    assert a < Version.parse("1763683200.123457+0@ap-southeast-1")
    assert a < Version.parse("1763683200.123456+1@ap-southeast-1")
    assert a < Version.parse("1763683200.123456+0@us-east-1")
