"""The pytest plugin (entry point `pytest11`, name `meridian`): fixtures
for a session-wide cluster, per-region clients, faults that are undone
after each test, and global tables made for a test.

Which cluster, first found wins:

- `--meridian-cluster FILE` or MERIDIAN_TESTKIT_CLUSTER: attach to a cluster
  that runs already (its cluster file; `--meridian-dashboard URL` or
  MERIDIAN_TESTKIT_DASHBOARD adds its dashboard);
- else `meridian up` of the binary (`--meridian-bin`, MERIDIAN_BIN, or
  `meridian` on PATH) on a generated cluster file, stopped with SIGINT at
  the end of the session, which fails if it does not exit cleanly; its
  cluster file takes the `meridian_settings` ini lines and
  `--meridian-setting KEY=VALUE` options as top-level keys.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .cluster import Cluster
from .faults import Fault
from .local import LocalCluster

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("meridian", "Meridian clusters (meridian_testkit)")
    g.addoption("--meridian-bin", default=None, help="the meridian binary (else MERIDIAN_BIN, else PATH)")
    g.addoption("--meridian-cluster", default=None,
                help="attach to the cluster of this cluster file instead of starting one "
                     "(else MERIDIAN_TESTKIT_CLUSTER)")
    g.addoption("--meridian-dashboard", default=None,
                help="the attached cluster's dashboard URL (else MERIDIAN_TESTKIT_DASHBOARD)")
    g.addoption("--meridian-keep", action="store_true",
                help="keep the started cluster's directory (data, logs, cluster file)")
    g.addoption("--meridian-setting", action="append", default=[], metavar="KEY=VALUE",
                help="a top-level key of the started cluster's file, e.g. repair_interval_ms=0 "
                     "(repeatable; also the meridian_settings ini option)")
    parser.addini("meridian_settings", type="linelist", default=[],
                  help="KEY=VALUE lines: top-level keys of the started cluster's file")


def settings(lines: list[str]) -> dict[str, object]:
    """`KEY=VALUE` lines as cluster file keys; a VALUE that is not a TOML
    number or boolean is a string."""
    out: dict[str, object] = {}
    for line in lines:
        key, eq, value = line.partition("=")
        if not eq or not key.strip():
            raise pytest.UsageError(f"meridian setting {line!r}: expected KEY=VALUE")
        try:
            out[key.strip()] = tomllib.loads(f"v = {value.strip()}")["v"]
        except ValueError:
            out[key.strip()] = value.strip()
    return out


@pytest.fixture(scope="session")
def meridian_cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """The session's cluster: attached, or started once for the session."""
    opt = request.config.getoption
    attach = opt("--meridian-cluster") or os.environ.get("MERIDIAN_TESTKIT_CLUSTER")
    if attach:
        dash = opt("--meridian-dashboard") or os.environ.get("MERIDIAN_TESTKIT_DASHBOARD")
        yield Cluster.attach(attach, binary=opt("--meridian-bin"), dashboard=dash)
        return
    lines = list(request.config.getini("meridian_settings")) + list(opt("--meridian-setting"))
    with LocalCluster(opt("--meridian-bin"), keep=bool(opt("--meridian-keep")),
                      settings=settings(lines)) as c:
        yield c


@pytest.fixture(scope="session")
def meridian_clients(meridian_cluster: Cluster) -> dict[str, Any]:
    """A boto3 DynamoDB client per region, by region name."""
    return dict(meridian_cluster.clients())


@pytest.fixture(scope="session")
def meridian_resources(meridian_cluster: Cluster) -> dict[str, Any]:
    """A boto3 DynamoDB resource per region, by region name."""
    return dict(meridian_cluster.resources())


class FaultSet:
    """Makes faults on the cluster as the cluster does
    (`partition`, `isolate`, `lag`, `latency`, `loss`, `pause_replication`,
    `fault(name, ...)`), and undoes any still in place when the test ends,
    however it ends. Use each as a context manager, or `.apply()` it."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.made: list[Fault] = []

    def _keep(self, f: Fault) -> Fault:
        self.made.append(f)
        return f

    def __getattr__(self, name: str) -> Callable[..., Fault]:
        if name not in ("partition", "isolate", "lag", "latency", "loss", "pause_replication", "fault"):
            raise AttributeError(name)
        make = getattr(self.cluster, name)

        def made(*args: Any, **kwargs: Any) -> Fault:
            return self._keep(make(*args, **kwargs))

        return made

    def undo_all(self) -> None:
        errors = []
        for f in reversed(self.made):
            try:
                f.undo()
            except Exception as e:  # every fault is undone, whichever fails
                errors.append(e)
        self.made.clear()
        if errors:
            raise errors[0]


@pytest.fixture
def meridian_faults(meridian_cluster: Cluster) -> Iterator[FaultSet]:
    """Faults for one test, each undone when the test ends."""
    fs = FaultSet(meridian_cluster)
    try:
        yield fs
    finally:
        fs.undo_all()


@pytest.fixture
def meridian_table(meridian_cluster: Cluster) -> Callable[..., str]:
    """Makes a global table in every region, named for the test and unique
    (`meridian_table(partition_key=("id", "S"), stream=True)`); answers
    its name."""

    def make(prefix: str = "t", **kwargs: Any) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        meridian_cluster.create_global_table(name, **kwargs)
        return name

    return make
