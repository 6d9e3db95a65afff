"""A Meridian cluster as tests see it: its regions, their DynamoDB
endpoints and boto3 clients, faults, waits, the conflict log and drills.

[Cluster] speaks to a cluster that runs already: one started by
[LocalCluster] (the `meridian` binary), attached from a cluster file
([Cluster.attach]), or the one-container image (meridian_testkit.container).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from . import faults as _faults
from .conflicts import Conflict, plain
from .control import Control, find_binary
from .errors import BadFault, MeridianError, UnknownRegion
from .wait import poll

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient, DynamoDBServiceResource
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient

    from .drills import DrillReport

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: Credentials for every client: Meridian accepts any unless the cluster
#: file sets `dynamodb_keys`, as DynamoDB Local does.
DEFAULT_CREDENTIALS = ("x", "x")

#: Clients give up on a region quickly, so a test under a fault fails with
#: the region's answer rather than hanging on retries.
CLIENT_CONFIG = Config(connect_timeout=5, read_timeout=30,
                       retries={"max_attempts": 2, "mode": "standard"})


class Cluster:
    """A running cluster: region names in the cluster file's order, each
    region's DynamoDB endpoint, and how to reach its control paths."""

    def __init__(
        self,
        regions: Sequence[str],
        endpoints: Mapping[str, str],
        control: Control | None = None,
        *,
        name: str = "meridian",
        credentials: tuple[str, str] = DEFAULT_CREDENTIALS,
    ) -> None:
        if not regions:
            raise MeridianError("regions: a cluster has at least one region")
        missing = [r for r in regions if r not in endpoints]
        if missing:
            raise MeridianError(f"endpoints: no DynamoDB endpoint for {', '.join(missing)}")
        self.regions: tuple[str, ...] = tuple(regions)
        self.endpoints: dict[str, str] = {r: endpoints[r] for r in regions}
        self.control = control or Control()
        self.name = name
        self.credentials = credentials

    def __repr__(self) -> str:
        return f"<Cluster {self.name}: {', '.join(self.regions)}>"

    # ---- regions, endpoints, clients -------------------------------------

    def check_region(self, region: str, what: str = "region") -> str:
        """`region`, or UnknownRegion naming the cluster's regions."""
        if region not in self.regions:
            raise UnknownRegion(region, self.regions, what)
        return region

    def check_link(self, a: str, b: str) -> tuple[str, str]:
        """Two distinct regions of the cluster."""
        self.check_region(a, "a")
        self.check_region(b, "b")
        if a == b:
            raise BadFault(f"a link joins two regions; got {a} twice")
        return a, b

    def endpoint(self, region: str) -> str:
        """The region's DynamoDB endpoint URL."""
        return self.endpoints[self.check_region(region)]

    def _session_args(self, region: str) -> dict[str, Any]:
        return {
            "endpoint_url": self.endpoint(region),
            "region_name": region,
            "aws_access_key_id": self.credentials[0],
            "aws_secret_access_key": self.credentials[1],
            "config": CLIENT_CONFIG,
        }

    def client(self, region: str) -> DynamoDBClient:
        """A boto3 DynamoDB client of the region, at its endpoint."""
        return boto3.client("dynamodb", **self._session_args(region))

    def resource(self, region: str) -> DynamoDBServiceResource:
        """A boto3 DynamoDB resource of the region, at its endpoint."""
        return boto3.resource("dynamodb", **self._session_args(region))

    def streams(self, region: str) -> DynamoDBStreamsClient:
        """A boto3 DynamoDB Streams client of the region."""
        return boto3.client("dynamodbstreams", **self._session_args(region))

    def clients(self) -> dict[str, DynamoDBClient]:
        """A DynamoDB client per region."""
        return {r: self.client(r) for r in self.regions}

    def resources(self) -> dict[str, DynamoDBServiceResource]:
        """A DynamoDB resource per region."""
        return {r: self.resource(r) for r in self.regions}

    # ---- faults ----------------------------------------------------------

    def partition(self, a: str, b: str, *, both: bool = True,
                  kind: str = "blackhole") -> _faults.Partition:
        """Nothing crosses between a and b (only a → b with both=False)."""
        return _faults.Partition(self, a, b, both=both, kind=kind)

    def isolate(self, region: str, *, kind: str = "blackhole") -> _faults.Isolate:
        """Every link of the region cut, both ways."""
        return _faults.Isolate(self, region, kind=kind)

    def lag(self, a: str, b: str, ms: float, *, jitter_ms: float = 0,
            distribution: str = "uniform", both: bool = True) -> _faults.Lag:
        """Every byte between a and b delayed by `ms` (± `jitter_ms`)."""
        return _faults.Lag(self, a, b, ms, jitter_ms=jitter_ms,
                           distribution=distribution, both=both)

    latency = lag

    def loss(self, a: str, b: str, fraction: float, *, rto_ms: float | None = None,
             both: bool = True) -> _faults.Loss:
        """A fraction (0 < f ≤ 1) of the chunks between a and b lost and
        retransmitted one RTO late."""
        return _faults.Loss(self, a, b, fraction, rto_ms=rto_ms, both=both)

    def pause_replication(self, table: str, region: str, *, seconds: float = 600,
                          tail_seconds: float = 0) -> _faults.PauseReplication:
        """FIS's pause-replication of the table's replica in `region`."""
        return _faults.PauseReplication(self, table, region, seconds=seconds,
                                        tail_seconds=tail_seconds)

    def fault(self, name: str, *args: Any, **kwargs: Any) -> _faults.Fault:
        """A fault by name (`partition`, `isolate`, `lag`, `latency`,
        `loss`, `pause_replication`), as a scenario table might list them."""
        return _faults.make(self, name, args, kwargs)

    def heal_all(self) -> None:
        """Removes every toxic and enables every proxy (`POST /reset`, what
        `meridian net clear` does): the network as it started."""
        from . import http

        if self.control.netsim_api is not None:
            http.must("POST", f"{self.control.netsim_api}/reset")
        else:
            self.control.net(["clear"])

    # ---- tables and waits ------------------------------------------------

    def create_global_table(
        self,
        table: str,
        *,
        partition_key: tuple[str, str] = ("pk", "S"),
        sort_key: tuple[str, str] | None = None,
        regions: Sequence[str] | None = None,
        stream: bool = False,
        timeout: float = 60,
    ) -> None:
        """A global table made as AWS makes one: CreateTable in the first
        of `regions` (every region by default), then UpdateTable's
        ReplicaUpdates adding one replica at a time, each waited for until
        ACTIVE."""
        regions = [self.check_region(r) for r in (regions or self.regions)]
        home, others = regions[0], regions[1:]
        keys = [partition_key] + ([sort_key] if sort_key else [])
        c = self.client(home)
        args: dict[str, Any] = {
            "TableName": table,
            "AttributeDefinitions": [{"AttributeName": n, "AttributeType": t} for n, t in keys],
            "KeySchema": [{"AttributeName": n, "KeyType": k}
                          for (n, _), k in zip(keys, ("HASH", "RANGE"))],
            "BillingMode": "PAY_PER_REQUEST",
        }
        if stream:
            args["StreamSpecification"] = {"StreamEnabled": True,
                                           "StreamViewType": "NEW_AND_OLD_IMAGES"}
        c.create_table(**args)
        self.wait_table_active(table, regions=[home], timeout=timeout)
        for r in others:
            c.update_table(TableName=table, ReplicaUpdates=[{"Create": {"RegionName": r}}])
            self.wait_table_active(table, regions=[home, r], timeout=timeout)

    def wait_table_active(self, table: str, *, regions: Iterable[str] | None = None,
                          timeout: float = 60) -> None:
        """Until DescribeTable answers ACTIVE in every region given (every
        region by default), and each lists its replicas ACTIVE."""
        rs = [self.check_region(r) for r in (regions or self.regions)]
        clients = {r: self.client(r) for r in rs}

        def check() -> tuple[bool, Any]:
            seen: dict[str, Any] = {}
            for r, c in clients.items():
                try:
                    t = c.describe_table(TableName=table)["Table"]
                except ClientError as e:
                    seen[r] = e.response.get("Error", {}).get("Code", str(e))
                    continue
                states = [t.get("TableStatus")] + [
                    x.get("ReplicaStatus") for x in t.get("Replicas", [])]
                seen[r] = "ACTIVE" if all(s == "ACTIVE" for s in states) else states
            return all(v == "ACTIVE" for v in seen.values()), seen

        poll(f"table {table} ACTIVE in {', '.join(rs)}", check, timeout)

    def wait_replicated(
        self,
        table: str,
        key: Mapping[str, Any],
        item: Mapping[str, Any] | None = None,
        *,
        regions: Iterable[str] | None = None,
        absent: bool = False,
        timeout: float = 30,
    ) -> dict[str, dict[str, Any] | None]:
        """Until the item at `key` reads as `item` in every region given
        (every region by default), or, with `absent`, is gone from each;
        without `item`, until it exists there. Keys and items take plain
        values as boto3's resource API does. Answers what each region holds."""
        rs = [self.check_region(r) for r in (regions or self.regions)]
        tables = {r: self.resource(r).Table(table) for r in rs}
        want = None if item is None else plain_of(dict(item))

        def check() -> tuple[bool, dict[str, dict[str, Any] | None]]:
            seen: dict[str, dict[str, Any] | None] = {}
            ok = True
            for r, t in tables.items():
                got = t.get_item(Key=dict(key)).get("Item")
                seen[r] = None if got is None else dict(got)
                if absent:
                    ok &= got is None
                elif want is None:
                    ok &= got is not None
                else:
                    ok &= got is not None and plain_of(dict(got)) == want
            return ok, seen

        what = "gone" if absent else ("as written" if item is not None else "present")
        return poll(f"{table} {dict(key)} {what} in {', '.join(rs)}", check, timeout)

    def read_all(self, table: str, region: str) -> dict[str, dict[str, Any]]:
        """Every item of the table in one region (a Scan, every page), keyed
        by a text form of the whole item's key attributes."""
        t = self.resource(self.check_region(region)).Table(table)
        key_names = [k["AttributeName"] for k in t.key_schema]
        out: dict[str, dict[str, Any]] = {}
        args: dict[str, Any] = {"ConsistentRead": True}
        while True:
            page = t.scan(**args)
            for it in page.get("Items", []):
                out[repr([it.get(k) for k in key_names])] = dict(it)
            if "LastEvaluatedKey" not in page:
                return out
            args["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def wait_converged(self, tables: Iterable[str] = (), *, timeout: float = 60) -> None:
        """Until the regions have converged: every region answers, every
        link is connected with nothing pending (each region's log applied
        by every peer: `meridian status`'s pending), in a status taken
        after this call began; and every table given reads the same,
        item for item, in every region (a Scan of each)."""
        names = list(tables)
        since = time.time() * 1000

        def check() -> tuple[bool, Any]:
            snap = self.control.snapshot(not_before_ms=since)
            down = [r.get("name") for r in snap.get("regions", []) if not r.get("up", False)]
            busy = [f"{x.get('from')}→{x.get('to')}: pending {x.get('pending')}"
                    f"{'' if x.get('connected') else ' (not connected)'}"
                    for x in snap.get("links", [])
                    if x.get("pending") != 0 or not x.get("connected")]
            if down or busy:
                return False, {"down": down, "links": busy}
            for t in names:
                views = {r: self.read_all(t, r) for r in self.regions}
                first = views[self.regions[0]]
                differ = [r for r, v in views.items() if v != first]
                if differ:
                    return False, {t: {r: len(v) for r, v in views.items()},
                                   "differ from " + self.regions[0]: differ}
            return True, None

        poll("regions converged", check, timeout, interval=0.2)

    # ---- conflicts, status, drills ---------------------------------------

    def conflicts(self, region: str | None = None, *, table: str | None = None,
                  limit: int = 200) -> list[Conflict]:
        """The conflict log: the newest `limit` (1 to 200) records of one
        region, or of every region (each record as that region holds it:
        one conflict is usually recorded by several)."""
        if not isinstance(limit, int) or not 1 <= limit <= 200:
            raise MeridianError(f"limit: must be a whole number from 1 to 200, got {limit!r}")
        rs = [self.check_region(region)] if region else list(self.regions)
        out = [Conflict.from_json(row) for r in rs for row in self.control.conflicts(r, limit)]
        return [c for c in out if table is None or c.table == table]

    def status(self) -> dict[str, Any]:
        """One status of the whole cluster, as `meridian net show --json`
        prints it: `links` (from, to, connected, pending, lag) and
        `regions` (name, up, conflicts, ...)."""
        return self.control.snapshot(not_before_ms=time.time() * 1000)

    def run_drill(self, path: str | os.PathLike[str], **kwargs: Any) -> DrillReport:
        """Runs a scenario file or an FIS template with `meridian drill run`
        (see meridian_testkit.drills.run_drill for the options)."""
        from .drills import run_drill

        return run_drill(path, cluster=self, **kwargs)

    # ---- attaching ---------------------------------------------------------

    @classmethod
    def attach(cls, config: str | os.PathLike[str], *, binary: str | os.PathLike[str] | None = None,
               dashboard: str | None = None, workdir: str | os.PathLike[str] | None = None) -> Cluster:
        """A cluster that runs already, read from its cluster file: regions,
        DynamoDB endpoints, the control API and the admin token. Relative
        paths in the file are taken from `workdir` (where `meridian up` was
        started; default the current directory)."""
        path = Path(config).resolve()
        try:
            doc = tomllib.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise MeridianError(f"cluster file {path}: {e}") from e
        base = Path(workdir).resolve() if workdir else Path.cwd()
        regions, endpoints = [], {}
        for r in doc.get("region", []):
            if "dynamo" not in r:
                raise MeridianError(f"cluster file {path}: region {r.get('name')} has no dynamo address")
            regions.append(r["name"])
            endpoints[r["name"]] = "http://" + r["dynamo"]
        api = doc.get("netsim", {}).get("api")
        token = None
        if "admin_token_file" in doc:
            tf = Path(doc["admin_token_file"])
            tf = tf if tf.is_absolute() else base / tf
            if tf.is_file():
                token = tf.read_text().strip()
        control = Control(
            netsim_api=f"http://{api}" if api else None,
            dashboard=dashboard.rstrip("/") if dashboard else None,
            admin_token=token,
            config=path,
            binary=find_binary(binary),
            workdir=base,
        )
        return cls(regions, endpoints, control, name=str(doc.get("name", path.stem)))


def plain_of(item: dict[str, Any]) -> dict[str, Any]:
    """An item with numbers compared by value (boto3 reads numbers as
    Decimal; a test writes ints)."""
    from decimal import Decimal

    def norm(v: Any) -> Any:
        if isinstance(v, bool):
            return v
        if isinstance(v, (int, float)):
            return Decimal(str(v))
        if isinstance(v, dict):
            return {k: norm(x) for k, x in v.items()}
        if isinstance(v, list):
            return [norm(x) for x in v]
        if isinstance(v, set):
            return {norm(x) for x in v}
        return v

    return {k: norm(v) for k, v in item.items()}


__all__ = ["Cluster", "plain", "plain_of"]
