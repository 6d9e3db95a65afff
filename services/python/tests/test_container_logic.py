"""What the container class reads from a running `meridian up`, checked
without Docker: regions from the dashboard's snapshot, the admin token
from the dashboard URL `up` prints, and faults through the dashboard with
that token. (test_container.py runs the class on the image itself.)"""

from __future__ import annotations

import pytest
from conftest import absent, stays, unique

from meridian_testkit import Cluster, LocalCluster

US, EU, AP = "us-east-1", "eu-west-1", "ap-southeast-1"


def test_the_container_class_reads_its_cluster_from_the_dashboard_and_the_log(
    settled: Cluster, table: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not isinstance(settled, LocalCluster):
        pytest.skip("the session's cluster was attached, not started here")
    from meridian_testkit.container import DASHBOARD_PORT, EDGE_PORT, MeridianContainer

    # The class without its container: its ports are the running cluster's.
    m = MeridianContainer.__new__(MeridianContainer)
    m.startup_timeout = 30
    urls = {DASHBOARD_PORT: settled.control.dashboard, EDGE_PORT: settled.endpoint(US)}
    monkeypatch.setattr(m, "_url", lambda port: urls[port])
    monkeypatch.setattr(m, "get_logs", lambda: (settled.log().encode(), b""))
    box = m._wait_serving()
    assert box.regions == settled.regions
    assert set(box.endpoints.values()) == {settled.endpoint(US)}
    assert box.control.netsim_api is None and box.control.binary is None
    assert box.control.admin_token == settled.control.admin_token
    # Its faults go through the dashboard with the token read from the log.
    # (Every region's client is this cluster's own: it has no edge.)
    via = Cluster(box.regions, settled.endpoints, box.control)
    k = unique()
    with via.partition(US, EU):
        via.resource(US).Table(table).put_item(Item={"pk": k})
        via.wait_replicated(table, {"pk": k}, regions=[AP], timeout=10)
        stays(f"{k} kept from {EU}", absent(via, table, EU, {"pk": k}))
    via.wait_converged([table], timeout=30)
    assert via.status()["regions"]
