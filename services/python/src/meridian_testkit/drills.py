"""Running a scenario (simulations/*.toml) or an AWS FIS experiment
template with `meridian drill run ... --json`, and reading its report as
objects (docs/drills.md, *The report: every metric*; docs/operations.md
gives the summary's fields). The summary's fields are typed; the whole
`report.json` is kept as `raw` for everything else it holds."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .control import Control, find_binary
from .errors import DrillError

if TYPE_CHECKING:
    from .cluster import Cluster

#: `meridian drill run`'s exit when the drill ran and its checker failed.
EXIT_CHECKER_FAILED = 4


@dataclass(frozen=True)
class LinkFigures:
    """One directed link's replication over the drill."""

    from_region: str
    to_region: str
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    applied: int
    max_pending: int


@dataclass(frozen=True)
class Heal:
    """A heal or restart, and how long its backlog took to drain."""

    at_ms: int
    label: str
    backlog: int | None
    drain_ms: int | None


@dataclass(frozen=True)
class Workload:
    attempted: int
    acked: int
    failed: int


@dataclass(frozen=True)
class Verdict:
    """The checker's verdict (docs/drills.md, *The verdict*)."""

    ok: bool
    converged: bool
    acked_writes_accounted: bool
    oracle_match: bool
    keys_checked: int
    conflicts_checked: int
    problems: tuple[str, ...]


@dataclass(frozen=True)
class DrillReport:
    """What `meridian drill run --json` said, with `report.json` beside it."""

    scenario: str
    mode: str
    seed: int | None
    links: tuple[LinkFigures, ...]
    heals: tuple[Heal, ...]
    workload: Workload
    conflicts: int
    lost_updates: int
    converged_after_ms: int | None
    verdict: Verdict
    report_json: Path
    report_html: Path
    #: The whole report.json.
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.verdict.ok

    def link(self, a: str, b: str) -> LinkFigures:
        """The figures of the link a → b."""
        for x in self.links:
            if (x.from_region, x.to_region) == (a, b):
                return x
        raise KeyError(f"no link {a} → {b} in the report; it has "
                       + ", ".join(f"{x.from_region} → {x.to_region}" for x in self.links))

    @classmethod
    def from_summary(cls, doc: dict[str, Any], base: Path | None = None) -> DrillReport:
        """From the `--json` summary; relative report paths from `base`."""
        v, w, rep = doc["verdict"], doc["workload"], doc["report"]
        root = base or Path.cwd()
        report_json = root / rep["json"]
        raw: dict[str, Any] = {}
        if report_json.is_file():
            raw = json.loads(report_json.read_text())
        return cls(
            scenario=str(doc["scenario"]),
            mode=str(doc["mode"]),
            seed=doc.get("seed"),
            links=tuple(LinkFigures(x["from"], x["to"], x.get("p50_ms"), x.get("p99_ms"),
                                    x.get("max_ms"), int(x.get("applied") or 0),
                                    int(x.get("max_pending") or 0)) for x in doc.get("links", [])),
            heals=tuple(Heal(int(h["at_ms"]), str(h["label"]), h.get("backlog"), h.get("drain_ms"))
                        for h in doc.get("heals", [])),
            workload=Workload(int(w["attempted"]), int(w["acked"]), int(w["failed"])),
            conflicts=int(doc.get("conflicts") or 0),
            lost_updates=int(doc.get("lost_updates") or 0),
            converged_after_ms=doc.get("converged_after_ms"),
            verdict=Verdict(bool(v["ok"]), bool(v["converged"]), bool(v["acked_writes_accounted"]),
                            bool(v["oracle_match"]), int(v["keys_checked"]),
                            int(v["conflicts_checked"]), tuple(str(p) for p in v.get("problems", []))),
            report_json=report_json,
            report_html=root / rep["html"],
            raw=raw,
        )


def run_drill(
    path: str | os.PathLike[str],
    *,
    cluster: Cluster | None = None,
    sim: bool = False,
    seed: int | None = None,
    time_scale: int | None = None,
    out: str | os.PathLike[str] | None = None,
    binary: str | os.PathLike[str] | None = None,
    timeout: float = 600,
) -> DrillReport:
    """Runs `meridian drill run PATH --json`: simulated (`sim`, virtual
    time, byte-identical per seed), live on regions of its own, or, given
    a `cluster` that runs already, against that cluster (`--cluster`;
    needs its cluster file). `time_scale` divides an FIS template's
    durations (1 to 3600). A drill whose checker fails answers its report
    with `ok` false; one that cannot run raises DrillError."""
    p = Path(path)
    if not p.is_file():
        raise DrillError(f"scenario: {p} does not exist")
    if time_scale is not None and not (isinstance(time_scale, int) and 1 <= time_scale <= 3600):
        raise DrillError(f"time_scale: must be a whole number from 1 to 3600, got {time_scale!r}")
    if sim and cluster is not None:
        raise DrillError("sim: a simulated drill runs its own regions; give no cluster")
    control = cluster.control if cluster is not None else Control(binary=find_binary(binary))
    if binary is not None:
        control = dataclasses.replace(control, binary=find_binary(binary))
    args = ["drill", "run", str(p.resolve()), "--json", "--quiet"]
    if out is not None:
        args += ["--out", str(Path(out).resolve())]
    if sim:
        args.append("--sim")
    if seed is not None:
        args += ["--seed", str(seed)]
    if time_scale is not None:
        args += ["--time-scale", str(time_scale)]
    if cluster is not None:
        if control.config is None:
            raise DrillError("cluster: a drill against a running cluster needs its cluster file")
        args += ["--cluster", str(control.config)]
    done = control.cli_run(args, timeout=timeout, config=False)
    if done.returncode not in (0, EXIT_CHECKER_FAILED):
        raise DrillError(f"meridian {' '.join(args)} exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    try:
        doc = json.loads(done.stdout)
    except ValueError as e:
        raise DrillError(f"meridian drill run: no JSON summary on stdout: {done.stdout[:500]!r}") from e
    return DrillReport.from_summary(doc, control.workdir)
