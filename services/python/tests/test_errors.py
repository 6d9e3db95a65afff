"""Bad input gets a clear error naming it, before anything is sent: the
proxies are exactly as they were."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from conftest import proxies

from meridian_testkit import BadFault, Cluster, MeridianError, UnknownRegion

US, EU = "us-east-1", "eu-west-1"

BAD: list[tuple[str, Callable[[Cluster], Any], type[Exception], list[str]]] = [
    ("a region the cluster lacks", lambda c: c.partition(US, "us-west-9"), UnknownRegion,
     ["'us-west-9'", "us-east-1, eu-west-1, ap-southeast-1"]),
    ("isolate of a region the cluster lacks", lambda c: c.isolate("mars-1"), UnknownRegion, ["'mars-1'"]),
    ("a link from a region to itself", lambda c: c.lag(US, US, 10), BadFault, ["us-east-1 twice"]),
    ("an unknown fault name", lambda c: c.fault("meteor", US, EU), BadFault,
     ["'meteor'", "isolate, lag, latency, loss, partition, pause_replication"]),
    ("a fraction above 1", lambda c: c.loss(US, EU, 1.5), BadFault, ["fraction", "1.5"]),
    ("a fraction of 0", lambda c: c.loss(US, EU, 0), BadFault, ["fraction", "got 0"]),
    ("a percentage given as a fraction", lambda c: c.loss(US, EU, 50), BadFault, ["fraction", "50"]),
    ("a fraction that is not a number", lambda c: c.loss(US, EU, "2%"), BadFault, ["fraction", "'2%'"]),
    ("a negative latency", lambda c: c.lag(US, EU, -5), BadFault, ["ms", "-5"]),
    ("a latency finer than a millisecond", lambda c: c.lag(US, EU, 1.5), BadFault, ["ms", "1.5"]),
    ("an unknown partition kind", lambda c: c.partition(US, EU, kind="drop"), BadFault, ["kind", "'drop'"]),
    ("a pause past 12 h", lambda c: c.pause_replication("t", EU, seconds=50000), BadFault, ["seconds"]),
    ("a pause tail past AWS's 5 min", lambda c: c.pause_replication("t", EU, tail_seconds=301), BadFault,
     ["tail_seconds"]),
    ("a pause of a region the cluster lacks", lambda c: c.pause_replication("t", "eu-west-9"), UnknownRegion,
     ["'eu-west-9'"]),
    ("a fault with a wrong argument", lambda c: c.fault("lag", US, EU, ms=5, jitter=3), BadFault, ["jitter"]),
    ("a client of a region the cluster lacks", lambda c: c.client("nowhere"), UnknownRegion, ["'nowhere'"]),
    ("conflicts of a region the cluster lacks", lambda c: c.conflicts("nowhere"), UnknownRegion, ["'nowhere'"]),
    ("too many conflicts asked", lambda c: c.conflicts(US, limit=201), MeridianError, ["limit", "201"]),
]


@pytest.mark.parametrize("what,call,error,named", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_refused_naming_it_and_changes_nothing(
    meridian_cluster: Cluster, what: str, call: Callable[[Cluster], Any], error: type[Exception],
    named: list[str],
) -> None:
    before = proxies(meridian_cluster)
    with pytest.raises(error) as e:
        fault = call(meridian_cluster)
        # A fault is checked when it is made; if it was not, applying it
        # must not get through either.
        fault.apply()
    for word in named:
        assert word in str(e.value), f"{what}: {e.value!r} does not name {word}"
    assert proxies(meridian_cluster) == before


def test_a_fault_the_proxy_refuses_half_way_is_taken_off_whole(meridian_cluster: Cluster) -> None:
    """A fault whose second toxic the control API refuses raises with the
    API's reason and leaves nothing behind: its first toxic is taken off."""
    c = meridian_cluster
    before = proxies(c)
    fault = c.lag(US, EU, 10)
    good = fault._toxics()
    # The second half made bad behind the library's checks.
    bad = [good[0], (good[1][0], good[1][1], "latency", {"latency": -1})]
    fault._toxics = lambda: bad  # type: ignore[method-assign]
    with pytest.raises(MeridianError, match="latency"):
        fault.apply()
    assert not fault.active
    assert proxies(c) == before
