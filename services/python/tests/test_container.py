"""The one-container image through the library's `testcontainers` class.
Runs only when MERIDIAN_IMAGE names the image (.ci/containers.sh sets it)
and a Docker engine answers; otherwise every test here is skipped, saying so."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from conftest import absent, stays, unique

from meridian_testkit import Cluster

IMAGE = os.environ.get("MERIDIAN_IMAGE")

pytestmark = [
    pytest.mark.container,
    pytest.mark.skipif(not IMAGE, reason="MERIDIAN_IMAGE is not set (the image's tests run in .ci/containers.sh)"),
]

US, EU, AP = "us-east-1", "eu-west-1", "ap-southeast-1"


@pytest.fixture(scope="module")
def box() -> Iterator[Cluster]:
    from meridian_testkit.container import MeridianContainer

    assert IMAGE is not None
    # The fixture stops the container itself; testcontainers' reaper would
    # be one more image to pull, which an offline CI machine cannot.
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
    with MeridianContainer(IMAGE) as m:
        yield m.cluster()


def test_the_container_serves_every_region_through_one_address(box: Cluster) -> None:
    assert set(box.regions) == {US, EU, AP}
    assert len(set(box.endpoints.values())) == 1
    t = unique("box")
    box.create_global_table(t)
    for r in box.regions:
        assert f":{r}:" in box.client(r).describe_table(TableName=t)["Table"]["TableArn"]
    box.resource(EU).Table(t).put_item(Item={"pk": "a", "n": 1})
    box.wait_replicated(t, {"pk": "a"}, {"pk": "a", "n": 1}, timeout=20)


def test_a_partition_in_the_container_takes_effect_and_ends(box: Cluster) -> None:
    t = unique("box")
    box.create_global_table(t)
    k = unique()
    with box.partition(US, EU):
        box.resource(US).Table(t).put_item(Item={"pk": k, "by": US})
        box.wait_replicated(t, {"pk": k}, regions=[AP], timeout=10)
        stays(f"{k} kept from {EU}", absent(box, t, EU, {"pk": k}))
        box.resource(EU).Table(t).put_item(Item={"pk": k, "by": EU})
    box.wait_converged([t], timeout=30)
    assert [c for c in box.conflicts(table=t) if c.key_matches({"pk": k})]


def test_pausing_replication_in_the_container_takes_effect(box: Cluster) -> None:
    t = unique("box")
    box.create_global_table(t)
    k = unique()
    with box.pause_replication(t, AP):
        box.resource(US).Table(t).put_item(Item={"pk": k})
        box.wait_replicated(t, {"pk": k}, regions=[EU], timeout=10)
        stays(f"{k} kept from {AP}", absent(box, t, AP, {"pk": k}))
    box.wait_replicated(t, {"pk": k}, regions=[AP], timeout=30)
