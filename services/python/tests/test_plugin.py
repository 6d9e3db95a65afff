"""The pytest plugin, as a user's suite meets it: a session of its own run
by pytester, attached to this session's cluster through the option a user
passes, with its faults undone when its test ends, even by failing."""

from __future__ import annotations

import pytest
from conftest import proxies

from meridian_testkit import Cluster, LocalCluster

pytest_plugins = ["pytester"]

INNER = '''
def test_fails_with_its_faults_in_place(meridian_cluster, meridian_faults, meridian_clients, meridian_resources):
    assert set(meridian_clients) == set(meridian_resources) == set(meridian_cluster.regions)
    meridian_faults.partition("us-east-1", "eu-west-1").apply()
    with meridian_faults.lag("us-east-1", "ap-southeast-1", 50):
        pass
    meridian_faults.loss("eu-west-1", "ap-southeast-1", 0.5).apply()
    raise AssertionError("a test that fails half-way")


def test_a_bad_fault_fails_its_test_naming_it(meridian_faults):
    meridian_faults.fault("meteor", "us-east-1", "eu-west-1")
'''


def test_a_users_suite_attaches_and_its_faults_are_undone(settled: Cluster, pytester: pytest.Pytester) -> None:
    if not isinstance(settled, LocalCluster):
        pytest.skip("the session's cluster was attached, not started here")
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest_subprocess(
        "--meridian-cluster", str(settled.config_path), "-p", "no:cacheprovider")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*a test that fails half-way*", "*'meteor' is not a fault*"])
    assert all(not p["toxics"] and p["enabled"] for p in proxies(settled).values()), proxies(settled)
