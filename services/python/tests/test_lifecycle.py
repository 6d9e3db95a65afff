"""Starting, attaching to and stopping clusters."""

from __future__ import annotations

import pytest
from conftest import absent, stays, unique

from meridian_testkit import Cluster, ClusterFailed, LocalCluster, http

US, EU, AP = "us-east-1", "eu-west-1", "ap-southeast-1"


def test_a_cluster_starts_serves_every_region_and_stops_cleanly_on_sigint() -> None:
    c = LocalCluster(regions=("us-east-1", "eu-west-1"), name="lifecycle")
    with c:
        assert c.process is not None and c.process.poll() is None
        for r in c.regions:
            assert http.answers(c.endpoint(r) + "/"), r
        c.create_global_table("life")
        c.resource(US).Table("life").put_item(Item={"pk": "a"})
        c.wait_replicated("life", {"pk": "a"}, regions=[EU], timeout=20)
        # Each region answers under its own name, as DynamoDB's ARNs do.
        for r in c.regions:
            assert f":{r}:" in c.client(r).describe_table(TableName="life")["Table"]["TableArn"]
        process, workdir = c.process, c.workdir
        assert "regions up" in c.log()
    # Stopped with SIGINT and checked to exit 0: nothing answers any more,
    # and its directory is gone.
    assert process.returncode == 0
    assert not any(http.answers(c.endpoint(r) + "/") for r in c.regions)
    assert not workdir.exists()


def test_a_cluster_that_cannot_start_says_why(tmp_path: object) -> None:
    with pytest.raises(ClusterFailed, match="regions"):
        LocalCluster(regions=("us-east-1", "us-east-1"))
    with pytest.raises(Exception, match="does not exist"):
        LocalCluster("/nonexistent/meridian")


def test_a_running_cluster_is_attached_from_its_cluster_file(settled: Cluster, table: str) -> None:
    if not isinstance(settled, LocalCluster):
        pytest.skip("the session's cluster was attached, not started here")
    c = settled
    attached = Cluster.attach(c.config_path, workdir=c.workdir)
    assert attached.regions == c.regions
    assert attached.endpoints == c.endpoints
    assert attached.control.netsim_api == c.control.netsim_api
    assert attached.control.admin_token == c.control.admin_token
    k = unique()
    # EU cut off from both peers: a partition of US and EU alone can be
    # crossed through AP by a repair round after a reconnection
    # (docs/limits.md), and this test is about the attached handle.
    with attached.isolate(EU):
        attached.resource(US).Table(table).put_item(Item={"pk": k})
        attached.wait_replicated(table, {"pk": k}, regions=[AP], timeout=10)
        stays(f"{k} kept from {EU}", absent(attached, table, EU, {"pk": k}))
    attached.wait_replicated(table, {"pk": k}, timeout=20)
