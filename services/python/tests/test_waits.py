"""Waiting polls with a deadline, ends as soon as its condition holds, and
says what it last saw when the deadline passes."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import unique

from meridian_testkit import Cluster, WaitTimeout

US, EU, AP = "us-east-1", "eu-west-1", "ap-southeast-1"


def test_waiting_for_an_item_answers_what_each_region_holds(meridian_cluster: Cluster, table: str) -> None:
    c = meridian_cluster
    k = unique()
    c.resource(US).Table(table).put_item(Item={"pk": k, "n": 3, "tags": {"a", "b"}})
    held = c.wait_replicated(table, {"pk": k}, {"pk": k, "n": 3, "tags": {"a", "b"}}, timeout=20)
    assert set(held) == {US, EU, AP}
    assert all(v is not None and v["n"] == 3 for v in held.values())
    c.resource(EU).Table(table).delete_item(Key={"pk": k})
    c.wait_replicated(table, {"pk": k}, absent=True, timeout=20)


def test_waiting_for_an_item_a_partition_holds_back_times_out_saying_what_it_saw(
    settled: Cluster, table: str,
) -> None:
    c = settled
    k = unique()
    with c.partition(US, EU):
        c.resource(US).Table(table).put_item(Item={"pk": k, "n": 1})
        with pytest.raises(WaitTimeout) as e:
            c.wait_replicated(table, {"pk": k}, {"pk": k, "n": 1}, timeout=1.5)
    assert k in str(e.value) and "'eu-west-1': None" in str(e.value)
    # A value other than the one waited for is not enough either.
    with pytest.raises(WaitTimeout):
        c.wait_replicated(table, {"pk": k}, {"pk": k, "n": 2}, timeout=0.5)
    c.wait_replicated(table, {"pk": k}, {"pk": k, "n": 1}, timeout=20)


def test_regions_diverged_by_a_partition_have_not_converged_until_it_ends(
    settled: Cluster, table: str,
) -> None:
    c = settled
    with c.partition(US, AP):
        c.resource(US).Table(table).put_item(Item={"pk": unique()})
        with pytest.raises(WaitTimeout) as e:
            c.wait_converged([table], timeout=2)
        assert "pending" in str(e.value)
    c.wait_converged([table], timeout=30)


def test_a_paused_table_is_told_apart_by_its_items(settled: Cluster) -> None:
    """A pause leaves every link connected with nothing pending (the
    skipped entries are acknowledged), so convergence also compares items."""
    c = settled
    table = unique("paused")
    c.create_global_table(table)
    with c.pause_replication(table, AP):
        c.resource(US).Table(table).put_item(Item={"pk": unique()})
        with pytest.raises(WaitTimeout) as e:
            c.wait_converged([table], timeout=3)
        assert "differ" in str(e.value) and AP in str(e.value)
    c.wait_converged([table], timeout=30)


def test_a_table_not_in_a_region_is_never_active_there(meridian_cluster: Cluster) -> None:
    c = meridian_cluster
    name = unique("local")
    c.client(EU).create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    c.wait_table_active(name, regions=[EU], timeout=20)
    with pytest.raises(WaitTimeout) as e:
        c.wait_table_active(name, timeout=1)
    assert "ResourceNotFoundException" in str(e.value)


@pytest.mark.parametrize("source", ["cli", "dashboard"])
def test_status_lists_every_link_and_region(meridian_cluster: Cluster, table: str, source: str) -> None:
    """Status and convergence read alike from `meridian net show --json`
    and from the dashboard's newest sample (the container's only source)."""
    c = meridian_cluster
    if source == "dashboard":
        c = Cluster(c.regions, c.endpoints, dataclasses.replace(c.control, binary=None))
    s = c.status()
    assert {(x["from"], x["to"]) for x in s["links"]} == {
        (a, b) for a in (US, EU, AP) for b in (US, EU, AP) if a != b}
    assert {r["name"] for r in s["regions"] if r["up"]} == {US, EU, AP}
    c.wait_converged([table], timeout=30)
    with c.partition(US, EU):
        c.resource(EU).Table(table).put_item(Item={"pk": unique()})
        with pytest.raises(WaitTimeout, match="pending"):
            c.wait_converged(timeout=3)
    c.wait_converged([table], timeout=30)
