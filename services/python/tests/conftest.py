"""Shared helpers of the package's own tests. The cluster itself comes
from the package's pytest plugin (`meridian_cluster`, one per session)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from meridian_testkit import Cluster
from meridian_testkit import http

#: How long a write must stay away from a region for a fault to count as
#: having kept it away; replication on loopback takes milliseconds.
KEPT_AWAY_S = 1.5


def stays(what: str, holds: Callable[[], bool], seconds: float = KEPT_AWAY_S) -> None:
    """Fails as soon as `holds` stops holding during `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert holds(), f"{what}: stopped holding before {seconds} s"
        time.sleep(0.05)


def absent(cluster: Cluster, table: str, region: str, key: dict[str, Any]) -> Callable[[], bool]:
    t = cluster.resource(region).Table(table)
    return lambda: "Item" not in t.get_item(Key=key)


def unique(prefix: str = "k") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def proxies(cluster: Cluster) -> Any:
    """Every proxy with its toxics and state, as the control API lists them."""
    return http.must("GET", f"{cluster.control.netsim_api}/proxies")


@pytest.fixture(scope="session")
def table(meridian_cluster: Cluster) -> str:
    """One global table (key `pk`) in every region for the session's tests."""
    name = unique("testkit")
    meridian_cluster.create_global_table(name)
    return name


@pytest.fixture
def settled(meridian_cluster: Cluster) -> Cluster:
    """The cluster once every link is connected with nothing pending: no
    reconnection's repair round from an earlier test is still under way to
    carry a write round a fault through a third region."""
    meridian_cluster.wait_converged(timeout=30)
    return meridian_cluster


@pytest.fixture(autouse=True)
def clean_network(request: pytest.FixtureRequest) -> Any:
    """A test on the session's cluster leaves none of its faults behind,
    even when it fails half-way."""
    yield
    if "meridian_cluster" in request.fixturenames:
        cluster = request.getfixturevalue("meridian_cluster")
        if cluster.control.netsim_api is not None:
            cluster.heal_all()
