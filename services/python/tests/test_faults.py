"""Every fault the library offers takes effect (each test fails if the
fault does nothing) and is undone when its block ends."""

from __future__ import annotations

import time

from conftest import KEPT_AWAY_S, absent, proxies, stays, unique

from meridian_testkit import Cluster

US, EU, AP = "us-east-1", "eu-west-1", "ap-southeast-1"


def put(cluster: Cluster, table: str, region: str, key: str, **attrs: object) -> dict[str, object]:
    item = {"pk": key, **attrs}
    cluster.resource(region).Table(table).put_item(Item=item)
    return item


def toxics(cluster: Cluster) -> dict[str, list[str]]:
    return {name: sorted(t["name"] for t in p["toxics"]) for name, p in proxies(cluster).items()
            if p["toxics"]}


def test_a_partition_keeps_writes_from_crossing_until_it_ends(meridian_cluster: Cluster, table: str) -> None:
    c = meridian_cluster
    k_us, k_eu = unique(), unique()
    with c.partition(US, EU) as fault:
        assert fault.active
        # As `meridian net partition --both` puts it: one toxic per stream.
        assert toxics(c) == {f"{US}>{EU}": ["meridian.partition.downstream", "meridian.partition.upstream"],
                             f"{EU}>{US}": ["meridian.partition.downstream", "meridian.partition.upstream"]}
        put(c, table, US, k_us, v=1)
        put(c, table, EU, k_eu, v=2)
        # The third region gets both, the other side of the cut neither.
        c.wait_replicated(table, {"pk": k_us}, {"pk": k_us, "v": 1}, regions=[AP], timeout=10)
        c.wait_replicated(table, {"pk": k_eu}, {"pk": k_eu, "v": 2}, regions=[AP], timeout=10)
        stays(f"{k_us} kept from {EU}", absent(c, table, EU, {"pk": k_us}))
        stays(f"{k_eu} kept from {US}", absent(c, table, US, {"pk": k_eu}), 0.2)
    assert not fault.active
    assert toxics(c) == {}
    c.wait_replicated(table, {"pk": k_us}, {"pk": k_us, "v": 1}, regions=[EU], timeout=20)
    c.wait_replicated(table, {"pk": k_eu}, {"pk": k_eu, "v": 2}, regions=[US], timeout=20)


def test_a_refusing_partition_one_way_lets_the_other_way_flow(meridian_cluster: Cluster, table: str) -> None:
    c = meridian_cluster
    k_us, k_eu = unique(), unique()
    with c.partition(US, EU, both=False, kind="refuse"):
        assert proxies(c)[f"{US}>{EU}"]["enabled"] is False
        put(c, table, US, k_us)
        put(c, table, EU, k_eu)
        c.wait_replicated(table, {"pk": k_eu}, regions=[US, AP], timeout=10)
        c.wait_replicated(table, {"pk": k_us}, regions=[AP], timeout=10)
        stays(f"{k_us} kept from {EU}", absent(c, table, EU, {"pk": k_us}))
    assert proxies(c)[f"{US}>{EU}"]["enabled"] is True
    assert toxics(c) == {}
    c.wait_replicated(table, {"pk": k_us}, regions=[EU], timeout=20)


def test_isolating_a_region_cuts_every_link_of_it(meridian_cluster: Cluster, table: str) -> None:
    c = meridian_cluster
    k_ap, k_us = unique(), unique()
    with c.isolate(AP):
        assert set(toxics(c)) == {f"{a}>{b}" for a in (US, EU, AP) for b in (US, EU, AP)
                                  if a != b and AP in (a, b)}
        put(c, table, AP, k_ap)
        put(c, table, US, k_us)
        c.wait_replicated(table, {"pk": k_us}, regions=[EU], timeout=10)
        stays(f"{k_ap} kept in {AP}", lambda: absent(c, table, US, {"pk": k_ap})()
              and absent(c, table, EU, {"pk": k_ap})())
        stays(f"{k_us} kept from {AP}", absent(c, table, AP, {"pk": k_us}), 0.2)
    assert toxics(c) == {}
    c.wait_replicated(table, {"pk": k_ap}, regions=[US, EU], timeout=20)
    c.wait_replicated(table, {"pk": k_us}, regions=[AP], timeout=20)


def arrival_s(c: Cluster, table: str, origin: str, to: str) -> float:
    """Seconds from a write's acknowledgement in `origin` until `to` reads it."""
    k = unique()
    put(c, table, origin, k)
    began = time.monotonic()
    c.wait_replicated(table, {"pk": k}, regions=[to], timeout=20)
    return time.monotonic() - began


def test_lag_delays_every_write_by_at_least_its_latency(meridian_cluster: Cluster, table: str) -> None:
    c = meridian_cluster
    # Links are warm, so a write crosses in milliseconds.
    arrival_s(c, table, US, EU)
    with c.lag(US, EU, 1000):
        assert toxics(c)[f"{US}>{EU}"] == ["meridian.latency.downstream", "meridian.latency.upstream"]
        assert arrival_s(c, table, US, EU) >= 0.95
        assert arrival_s(c, table, EU, US) >= 0.95
        assert arrival_s(c, table, US, AP) < 0.95
    assert toxics(c) == {}
    assert arrival_s(c, table, US, EU) < 0.95


def test_loss_holds_lost_chunks_one_retransmission_timeout(meridian_cluster: Cluster, table: str) -> None:
    c = meridian_cluster
    arrival_s(c, table, EU, AP)
    # Every chunk lost once: each waits one RTO of 1 s before it crosses.
    with c.loss(EU, AP, 1.0, rto_ms=1000):
        t = proxies(c)[f"{EU}>{AP}"]["toxics"]
        assert {x["type"] for x in t} == {"loss"} and t[0]["attributes"]["percent"] == 100
        assert arrival_s(c, table, EU, AP) >= 0.95
        assert arrival_s(c, table, EU, US) < 0.95
    assert toxics(c) == {}
    assert arrival_s(c, table, EU, AP) < 0.95


def test_a_fault_on_a_link_puts_back_what_was_there(meridian_cluster: Cluster, table: str) -> None:
    c = meridian_cluster
    with c.lag(US, EU, 50):
        with c.lag(US, EU, 500):
            assert proxies(c)[f"{US}>{EU}"]["toxics"][0]["attributes"]["latency"] == 500
        assert {t["attributes"]["latency"] for t in proxies(c)[f"{US}>{EU}"]["toxics"]} == {50}
    assert toxics(c) == {}


def test_pausing_a_tables_replication_stops_that_table_only(meridian_cluster: Cluster, table: str) -> None:
    c = meridian_cluster
    other = unique("other")
    c.create_global_table(other)
    k, k_other, k_back = unique(), unique(), unique()
    with c.pause_replication(table, EU):
        put(c, table, US, k)
        put(c, table, EU, k_back)
        put(c, other, US, k_other)
        c.wait_replicated(table, {"pk": k}, regions=[AP], timeout=10)
        # The network is whole: another table crosses to the paused replica.
        c.wait_replicated(other, {"pk": k_other}, regions=[EU], timeout=10)
        stays(f"{k} kept from {EU}'s paused replica", absent(c, table, EU, {"pk": k}))
        stays(f"{k_back} kept in {EU}", absent(c, table, US, {"pk": k_back}), 0.2)
    # Ended now: each side pulls what it skipped.
    c.wait_replicated(table, {"pk": k}, regions=[EU], timeout=30)
    c.wait_replicated(table, {"pk": k_back}, regions=[US, AP], timeout=30)


def test_faults_through_the_dashboard_take_effect_too(meridian_cluster: Cluster, table: str) -> None:
    """A cluster whose control API is not reachable (the one-container
    image publishes its dashboard only) gets its faults as `meridian net`
    lines through the dashboard."""
    import dataclasses

    c = meridian_cluster
    assert c.control.dashboard is not None
    via = Cluster(c.regions, c.endpoints, dataclasses.replace(c.control, netsim_api=None))
    k = unique()
    with via.partition(US, AP):
        assert f"{US}>{AP}" in toxics(c)
        put(c, table, US, k)
        c.wait_replicated(table, {"pk": k}, regions=[EU], timeout=10)
        stays(f"{k} kept from {AP}", absent(c, table, AP, {"pk": k}), KEPT_AWAY_S)
    assert toxics(c) == {}
    c.wait_replicated(table, {"pk": k}, regions=[AP], timeout=20)
    with via.lag(US, AP, 1000):
        assert arrival_s(c, table, US, AP) >= 0.95
    assert toxics(c) == {}
