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


def test_a_partition_keeps_writes_from_crossing_until_it_ends(settled: Cluster, table: str) -> None:
    c = settled
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


def test_a_refusing_partition_one_way_lets_the_other_way_flow(settled: Cluster, table: str) -> None:
    c = settled
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


def test_isolating_a_region_cuts_every_link_of_it(settled: Cluster, table: str) -> None:
    c = settled
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


#: The delay the timing tests put on a link. Below half the regions' HTTP/2
#: keepalive timeout (1 s): a round trip longer than that and the link
#: reconnects without end, and nothing replicates (docs/python.md, *Limits*).
DELAY_MS = 300
#: A write on a delayed link arrives no sooner than this: the proxy holds
#: every chunk that long, so a fault that did nothing fails the test.
AT_LEAST_S = DELAY_MS / 1000 * 0.95


def test_lag_delays_every_write_by_at_least_its_latency(settled: Cluster, table: str) -> None:
    c = settled
    with c.lag(US, EU, DELAY_MS):
        assert toxics(c) == {f"{US}>{EU}": ["meridian.latency.downstream", "meridian.latency.upstream"],
                             f"{EU}>{US}": ["meridian.latency.downstream", "meridian.latency.upstream"]}
        # The third region cut off, so no write can come round through it
        # (a repair after its reconnect pulls what a peer has).
        with c.isolate(AP):
            assert arrival_s(c, table, US, EU) >= AT_LEAST_S
            assert arrival_s(c, table, EU, US) >= AT_LEAST_S
    assert toxics(c) == {}


def test_loss_holds_lost_chunks_one_retransmission_timeout(settled: Cluster, table: str) -> None:
    c = settled
    # Every chunk lost once: each waits one RTO before it crosses.
    with c.loss(EU, AP, 1.0, rto_ms=DELAY_MS):
        t = proxies(c)[f"{EU}>{AP}"]["toxics"]
        assert {x["type"] for x in t} == {"loss"} and t[0]["attributes"]["percent"] == 100
        assert t[0]["attributes"]["rto_ms"] == DELAY_MS
        with c.isolate(US):
            assert arrival_s(c, table, EU, AP) >= AT_LEAST_S
            assert arrival_s(c, table, AP, EU) >= AT_LEAST_S
    assert toxics(c) == {}


def test_a_fault_on_a_link_puts_back_what_was_there(settled: Cluster, table: str) -> None:
    c = settled
    with c.lag(US, EU, 50):
        with c.lag(US, EU, 500):
            assert proxies(c)[f"{US}>{EU}"]["toxics"][0]["attributes"]["latency"] == 500
        assert {t["attributes"]["latency"] for t in proxies(c)[f"{US}>{EU}"]["toxics"]} == {50}
    assert toxics(c) == {}


def test_pausing_a_tables_replication_stops_that_table_only(settled: Cluster, table: str) -> None:
    c = settled
    # A table of its own: the rounds that end the pause touch it alone.
    paused = unique("paused")
    c.create_global_table(paused)
    k, k_other, k_back = unique(), unique(), unique()
    with c.pause_replication(paused, EU):
        put(c, paused, US, k)
        put(c, paused, EU, k_back)
        put(c, table, US, k_other)
        c.wait_replicated(paused, {"pk": k}, regions=[AP], timeout=10)
        # The network is whole: another table crosses to the paused replica.
        c.wait_replicated(table, {"pk": k_other}, regions=[EU], timeout=10)
        stays(f"{k} kept from {EU}'s paused replica", absent(c, paused, EU, {"pk": k}))
        stays(f"{k_back} kept in {EU}", absent(c, paused, US, {"pk": k_back}), 0.2)
    # Ended now: each side pulls what it skipped.
    c.wait_replicated(paused, {"pk": k}, regions=[EU], timeout=30)
    c.wait_replicated(paused, {"pk": k_back}, regions=[US, AP], timeout=30)


def test_faults_through_the_dashboard_take_effect_too(settled: Cluster, table: str) -> None:
    """A cluster whose control API is not reachable (the one-container
    image publishes its dashboard only) gets its faults as `meridian net`
    lines through the dashboard."""
    import dataclasses

    c = settled
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
    with via.lag(US, AP, DELAY_MS), c.isolate(EU):
        assert len(toxics(c)[f"{US}>{AP}"]) == 2
        assert arrival_s(c, table, US, AP) >= AT_LEAST_S
    assert toxics(c) == {}
