"""Faults as context managers that undo themselves.

Link faults go on the link proxy's control API (Toxiproxy-compatible) as
`meridian net` puts them (docs/netsim.md): a directed link A → B is the
upstream of proxy `A>B` plus the downstream of proxy `B>A`, each fault puts
one toxic on each of those two streams, named `meridian.<fault>.<stream>`,
so `meridian net show` and the dashboard describe them in their own words.
Leaving the block puts back exactly what was there before (the toxic of
that name, or none), so a fault set by hand meanwhile on another link is
left alone. A cluster whose control API is not reachable (the one-container
image publishes only its dashboard) gets the same faults as `meridian net`
command lines through the dashboard's `POST /api/net`.

Pausing a table's replication is not a network fault: it is AWS FIS's
`aws:dynamodb:global-table-pause-replication`, which Meridian runs as the
admin call `meridian net pause-replication` makes; leaving the block ends
it, as stopping an FIS experiment does."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from . import http
from .errors import BadFault

if TYPE_CHECKING:
    from .cluster import Cluster

F = TypeVar("F", bound="Fault")

#: Longest latency or jitter, as `meridian net` bounds it (an hour).
MAX_DELAY_MS = 3_600_000
#: Longest retransmission timeout of the `loss` toxic (docs/netsim.md).
MAX_RTO_MS = 120_000
#: Longest pause of a table's replication (`meridian net pause-replication`).
MAX_PAUSE_S = 12 * 3600
#: Longest tail before a pause begins: AWS's five minutes.
MAX_TAIL_S = 300
#: The partition kinds of `meridian net partition --kind`.
PARTITION_KINDS = ("blackhole", "refuse")


def toxic_name(fault: str, stream: str) -> str:
    """The stable name `meridian net` gives a fault's toxic on one stream."""
    return f"meridian.{fault}.{stream}"


def halves(a: str, b: str) -> list[tuple[str, str]]:
    """The two halves (proxy, stream) of the directed link a → b."""
    return [(f"{a}>{b}", "upstream"), (f"{b}>{a}", "downstream")]


class Fault:
    """One fault on a cluster. `with fault:` applies it and undoes it on
    the way out, whatever happens in the block; [apply] and [undo] do the
    same by hand. Arguments are checked when the fault is made, before
    anything is sent."""

    #: The fault's name, as [Cluster.fault] takes it.
    name = "fault"

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.active = False

    def describe(self) -> str:
        """One line saying what the fault is."""
        return self.name

    def apply(self) -> None:
        if self.active:
            raise BadFault(f"{self.describe()}: already applied")
        self._apply()
        self.active = True

    def undo(self) -> None:
        if self.active:
            self.active = False
            self._undo()

    def _apply(self) -> None:
        raise NotImplementedError

    def _undo(self) -> None:
        raise NotImplementedError

    def __enter__(self: F) -> F:
        self.apply()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.undo()

    def __repr__(self) -> str:
        return f"<{self.describe()}{' (applied)' if self.active else ''}>"


class _Toxics(Fault):
    """A fault made of toxics on proxies. Remembers what each name held
    before, and puts it back on undo."""

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(cluster)
        self._before: list[tuple[str, str, dict[str, Any] | None]] = []
        self._disabled: list[tuple[str, bool]] = []

    def _api(self) -> str:
        api = self.cluster.control.netsim_api
        assert api is not None
        return api

    def _toxics(self) -> list[tuple[str, str, str, dict[str, Any]]]:
        """(proxy, toxic name, type, attributes) with stream in the name."""
        raise NotImplementedError

    def _disable(self) -> list[str]:
        """Proxies to disable (refused connections)."""
        return []

    def _net_args(self) -> tuple[list[list[str]], list[list[str]]]:
        """The `meridian net` lines that apply and undo it."""
        raise NotImplementedError

    def _apply(self) -> None:
        if self.cluster.control.netsim_api is None:
            for args in self._net_args()[0]:
                self.cluster.control.net(args)
            return
        api = self._api()
        try:
            for proxy, tname, kind, attrs in self._toxics():
                url = f"{api}/proxies/{http.seg(proxy)}/toxics/{http.seg(tname)}"
                status, old = http.call("GET", url)
                self._before.append((proxy, tname, old if status == 200 else None))
                stream = tname.rsplit(".", 1)[1]
                body = {"name": tname, "type": kind, "stream": stream, "toxicity": 1.0,
                        "attributes": attrs}
                if status == 200:
                    http.must("DELETE", url)
                http.must("POST", f"{api}/proxies/{http.seg(proxy)}/toxics", body)
            for proxy in self._disable():
                doc = http.must("GET", f"{api}/proxies/{http.seg(proxy)}")
                self._disabled.append((proxy, bool(doc.get("enabled", True))))
                http.must("POST", f"{api}/proxies/{http.seg(proxy)}", {"enabled": False})
        except Exception:
            self._undo()
            raise

    def _undo(self) -> None:
        if self.cluster.control.netsim_api is None:
            for args in self._net_args()[1]:
                self.cluster.control.net(args)
            return
        api = self._api()
        for proxy, enabled in reversed(self._disabled):
            http.must("POST", f"{api}/proxies/{http.seg(proxy)}", {"enabled": enabled})
        for proxy, tname, old in reversed(self._before):
            url = f"{api}/proxies/{http.seg(proxy)}/toxics/{http.seg(tname)}"
            status, _ = http.call("DELETE", url)
            if status not in (200, 204, 404):
                raise BadFault(f"{self.describe()}: could not remove {tname} on {proxy} ({status})")
            if old is not None:
                keep = {k: old[k] for k in ("name", "type", "stream", "toxicity", "attributes")}
                http.must("POST", f"{api}/proxies/{http.seg(proxy)}/toxics", keep)
        self._before.clear()
        self._disabled.clear()


def _links(a: str, b: str, both: bool) -> list[tuple[str, str]]:
    return [(a, b), (b, a)] if both else [(a, b)]


def _both(both: bool) -> list[str]:
    return ["--both"] if both else []


def _whole_ms(what: str, value: float, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BadFault(f"{what}: must be a number of milliseconds, got {value!r}")
    if value != int(value):
        raise BadFault(f"{what}: must be a whole number of milliseconds (the proxy's resolution), got {value}")
    if not low <= value <= high:
        raise BadFault(f"{what}: must be between {low} and {high} ms, got {value}")
    return int(value)


class Partition(_Toxics):
    """Every byte from a to b dropped (and from b to a with `both`, the
    default): a blackhole, connections stay open and wedged, as
    `meridian net partition`. `kind="refuse"` instead refuses (and resets)
    the connections a opens to b (docs/netsim.md, *The two partition
    kinds*)."""

    name = "partition"

    def __init__(self, cluster: Cluster, a: str, b: str, *, both: bool = True,
                 kind: str = "blackhole") -> None:
        super().__init__(cluster)
        self.a, self.b = cluster.check_link(a, b)
        if kind not in PARTITION_KINDS:
            raise BadFault(f"kind: {kind!r} is not a partition kind; choose {' or '.join(PARTITION_KINDS)}")
        self.both, self.kind = both, kind

    def describe(self) -> str:
        arrow = "⇄" if self.both else "→"
        return f"partition {self.a} {arrow} {self.b} ({self.kind})"

    def _toxics(self) -> list[tuple[str, str, str, dict[str, Any]]]:
        out = []
        for x, y in _links(self.a, self.b, self.both):
            if self.kind == "blackhole":
                for proxy, stream in halves(x, y):
                    out.append((proxy, toxic_name("partition", stream), "timeout", {"timeout": 0}))
            else:
                out.append((f"{x}>{y}", toxic_name("refuse", "upstream"), "reset_peer", {"timeout": 0}))
        return out

    def _disable(self) -> list[str]:
        if self.kind == "refuse":
            return [f"{x}>{y}" for x, y in _links(self.a, self.b, self.both)]
        return []

    def _net_args(self) -> tuple[list[list[str]], list[list[str]]]:
        on = ["partition", self.a, self.b, "--kind", self.kind, *_both(self.both)]
        return [on], [["heal", self.a, self.b]]


class Isolate(_Toxics):
    """Every link of a region cut, both ways (`meridian net isolate`)."""

    name = "isolate"

    def __init__(self, cluster: Cluster, region: str, *, kind: str = "blackhole") -> None:
        super().__init__(cluster)
        self.region = cluster.check_region(region)
        self.parts = [Partition(cluster, self.region, o, both=True, kind=kind)
                      for o in cluster.regions if o != self.region]
        self.kind = kind

    def describe(self) -> str:
        return f"isolate {self.region} ({self.kind})"

    def _toxics(self) -> list[tuple[str, str, str, dict[str, Any]]]:
        return [t for p in self.parts for t in p._toxics()]

    def _disable(self) -> list[str]:
        return [d for p in self.parts for d in p._disable()]

    def _net_args(self) -> tuple[list[list[str]], list[list[str]]]:
        return [["isolate", self.region, "--kind", self.kind]], [["heal", "--region", self.region]]


class Lag(_Toxics):
    """Every byte from a to b (and back, with `both`, the default) delayed
    by `ms` milliseconds ± `jitter_ms`, as `meridian net lag`."""

    name = "lag"

    def __init__(self, cluster: Cluster, a: str, b: str, ms: float, *, jitter_ms: float = 0,
                 distribution: str = "uniform", both: bool = True) -> None:
        super().__init__(cluster)
        self.a, self.b = cluster.check_link(a, b)
        self.ms = _whole_ms("ms", ms, 1, MAX_DELAY_MS)
        self.jitter_ms = _whole_ms("jitter_ms", jitter_ms, 0, MAX_DELAY_MS)
        if distribution not in ("uniform", "normal", "pareto"):
            raise BadFault(f"distribution: {distribution!r} is not one of uniform, normal, pareto")
        self.distribution, self.both = distribution, both

    def describe(self) -> str:
        arrow = "⇄" if self.both else "→"
        return f"lag {self.a} {arrow} {self.b} {self.ms} ms ± {self.jitter_ms} ms"

    def _toxics(self) -> list[tuple[str, str, str, dict[str, Any]]]:
        attrs = {"latency": self.ms, "jitter": self.jitter_ms, "distribution": self.distribution}
        return [(p, toxic_name("latency", s), "latency", attrs)
                for x, y in _links(self.a, self.b, self.both) for p, s in halves(x, y)]

    def _net_args(self) -> tuple[list[list[str]], list[list[str]]]:
        on = ["lag", self.a, self.b, f"{self.ms}ms", "--jitter", f"{self.jitter_ms}ms",
              "--distribution", self.distribution, *_both(self.both)]
        off = ["lag", self.a, self.b, "0ms", "--jitter", "0ms", *_both(self.both)]
        return [on], [off]


class Loss(_Toxics):
    """A `fraction` (more than 0, at most 1) of the chunks from a to b (and
    back, with `both`, the default) lost: each held one retransmission
    timeout, as TCP retransmits (docs/netsim.md, *Why loss is a delay*)."""

    name = "loss"

    def __init__(self, cluster: Cluster, a: str, b: str, fraction: float, *,
                 rto_ms: float | None = None, both: bool = True) -> None:
        super().__init__(cluster)
        self.a, self.b = cluster.check_link(a, b)
        if (isinstance(fraction, bool) or not isinstance(fraction, (int, float))
                or not math.isfinite(fraction) or not 0 < fraction <= 1):
            raise BadFault(f"fraction: must be more than 0 and at most 1 (1 = every chunk), got {fraction!r}")
        self.fraction = float(fraction)
        self.rto_ms = None if rto_ms is None else _whole_ms("rto_ms", rto_ms, 1, MAX_RTO_MS)
        self.both = both

    def describe(self) -> str:
        arrow = "⇄" if self.both else "→"
        return f"loss {self.a} {arrow} {self.b} {self.fraction * 100:g} %"

    def _toxics(self) -> list[tuple[str, str, str, dict[str, Any]]]:
        attrs: dict[str, Any] = {"percent": self.fraction * 100}
        if self.rto_ms is not None:
            attrs["rto_ms"] = self.rto_ms
        return [(p, toxic_name("loss", s), "loss", attrs)
                for x, y in _links(self.a, self.b, self.both) for p, s in halves(x, y)]

    def _net_args(self) -> tuple[list[list[str]], list[list[str]]]:
        rto = ["--rto", f"{self.rto_ms}ms"] if self.rto_ms is not None else []
        on = ["loss", self.a, self.b, f"{self.fraction * 100:g}%", *rto, *_both(self.both)]
        return [on], [["loss", self.a, self.b, "0%", *_both(self.both)]]


class PauseReplication(Fault):
    """AWS FIS's `aws:dynamodb:global-table-pause-replication` on one
    table's replica in `region`: nothing of the table crosses between that
    replica and its peers, both ways, while every region keeps serving it
    and other tables replicate (docs/netsim.md, *Pausing a table's
    replication*). It lasts `seconds` at most (it ends by itself then, and
    the regions pull what they skipped), or until the block is left, which
    ends it at once, as stopping the experiment does. `tail_seconds` is
    how long replication goes on first (AWS: up to five minutes)."""

    name = "pause_replication"

    def __init__(self, cluster: Cluster, table: str, region: str, *, seconds: float = 600,
                 tail_seconds: float = 0) -> None:
        super().__init__(cluster)
        if not isinstance(table, str) or not table:
            raise BadFault(f"table: must be a table's name, got {table!r}")
        self.table, self.region = table, cluster.check_region(region)
        self.ms = _whole_ms("seconds", seconds * 1000, 1, MAX_PAUSE_S * 1000)
        self.tail_ms = _whole_ms("tail_seconds", tail_seconds * 1000, 0, MAX_TAIL_S * 1000)

    def describe(self) -> str:
        return f"pause replication of {self.table} at {self.region} for {self.ms / 1000:g} s"

    def _apply(self) -> None:
        self.cluster.control.net(["pause-replication", self.table, self.region,
                                  f"{self.ms}ms", "--tail", f"{self.tail_ms}ms"])

    def _undo(self) -> None:
        self.cluster.control.net(["pause-replication", self.table, self.region, "0"])


#: Every fault [Cluster.fault] makes, by name.
FAULTS: dict[str, Callable[..., Fault]] = {
    "partition": Partition,
    "isolate": Isolate,
    "lag": Lag,
    "latency": Lag,
    "loss": Loss,
    "pause_replication": PauseReplication,
}


def make(cluster: Cluster, name: str, args: Sequence[Any], kwargs: dict[str, Any]) -> Fault:
    """The fault called `name`, or BadFault naming the ones there are."""
    try:
        factory = FAULTS[name]
    except KeyError:
        raise BadFault(f"fault: {name!r} is not a fault; choose one of {', '.join(sorted(FAULTS))}") from None
    try:
        return factory(cluster, *args, **kwargs)
    except TypeError as e:
        raise BadFault(f"fault {name}: {e}") from e
