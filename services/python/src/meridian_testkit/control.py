"""How the library reaches Meridian besides DynamoDB: the link proxy's
control API (Toxiproxy-compatible, the cluster file's `[netsim] api`), the
dashboard's JSON API (`/api/net`, `/api/conflicts`, `/api/snapshot`), and
the `meridian` CLI's JSON output. Each call names which one it uses;
[Control] picks the first one the cluster offers, so a cluster attached
without a dashboard still works through the CLI, and a container without a
published control API still works through its dashboard."""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import http
from .errors import ControlError


@dataclass(frozen=True)
class Control:
    """The addresses and tools of one cluster's control paths."""

    #: `http://host:port` of the link proxy's control API, if reachable.
    netsim_api: str | None = None
    #: `http://host:port` of the dashboard, if reachable.
    dashboard: str | None = None
    #: The cluster's admin token (mutating dashboard actions need it).
    admin_token: str | None = None
    #: The cluster file, for the CLI.
    config: Path | None = None
    #: The `meridian` binary, for the CLI (drills, and the fallbacks).
    binary: Path | None = None
    #: The directory the CLI runs in (relative paths of the cluster file).
    workdir: Path | None = None

    def cli(self, args: list[str], *, timeout: float = 60.0, config: bool = True) -> str:
        """Runs `meridian ARGS [--config FILE]`; answers its stdout, or
        raises ControlError with its stderr when it exits non-zero."""
        done = self.cli_run(args, timeout=timeout, config=config)
        if done.returncode != 0:
            raise ControlError(
                f"meridian {' '.join(args)} exited {done.returncode}: {done.stderr.strip()}"
            )
        return done.stdout

    def cli_run(
        self, args: list[str], *, timeout: float = 60.0, config: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Runs the CLI and answers what it did, whatever its exit."""
        if self.binary is None:
            raise ControlError(
                f"meridian {' '.join(args)}: no meridian binary known "
                "(set MERIDIAN_BIN or put meridian on PATH)"
            )
        cmd = [str(self.binary), *args]
        if config:
            if self.config is None:
                raise ControlError(f"meridian {' '.join(args)}: no cluster file known")
            cmd += ["--config", str(self.config)]
        env = dict(os.environ)
        env.pop("MERIDIAN_CONFIG", None)
        try:
            return subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                timeout=timeout,
                cwd=self.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as e:
            raise ControlError(f"{' '.join(cmd)}: no answer within {timeout:.0f} s") from e

    def net(self, args: list[str]) -> str:
        """A `meridian net` command line: through the dashboard's
        `POST /api/net` (the same parser and executor as the CLI) when there
        is a dashboard, else through the CLI. Answers what it did."""
        if self.dashboard is not None:
            doc = http.must(
                "POST", f"{self.dashboard}/api/net", {"args": args}, token=self.admin_token
            )
            return str(doc.get("ok", "")) if isinstance(doc, dict) else str(doc)
        return self.cli(["net", *args]).strip()

    def snapshot(self, not_before_ms: float | None = None, timeout: float = 10.0) -> dict[str, Any]:
        """What `meridian net show --json` gathers (links with pending and
        connection, regions with their status): from the CLI, taken now,
        when the binary and the cluster file are known; else the
        dashboard's newest sample, once one taken after `not_before_ms`
        (wall ms) is there."""
        if self.binary is not None and self.config is not None:
            out = self.cli(["net", "show", "--json"])
            doc = json.loads(out)
            if not isinstance(doc, dict):
                raise ControlError(f"meridian net show --json: not a document: {out[:200]}")
            return doc
        if self.dashboard is None:
            raise ControlError("status: neither a meridian binary with the cluster file nor a dashboard is known")
        deadline = time.monotonic() + timeout
        while True:
            doc = http.must("GET", f"{self.dashboard}/api/snapshot")
            if isinstance(doc, dict):
                began = float(doc.get("t_ms", 0)) - float(doc.get("sample_ms", 0))
                if not_before_ms is None or began >= not_before_ms:
                    return doc
            if time.monotonic() > deadline:
                raise ControlError(
                    f"{self.dashboard}/api/snapshot: no sample newer than the request "
                    f"within {timeout:.0f} s"
                )
            time.sleep(0.1)

    def conflicts(self, region: str, limit: int) -> list[dict[str, Any]]:
        """The region's conflict records as `meridian conflicts` prints
        them: the newest `limit` through the dashboard, else the oldest
        `limit` through the CLI."""
        if self.dashboard is not None:
            doc = http.must(
                "GET", f"{self.dashboard}/api/conflicts?region={http.seg(region)}&limit={limit}"
            )
            return list(doc["conflicts"])
        out = self.cli(["conflicts", "--region", region, "--limit", str(limit)])
        return list(json.loads(out)["Conflicts"])


def find_binary(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The `meridian` binary: `explicit`, else MERIDIAN_BIN, else on PATH."""
    import shutil

    for candidate in (explicit, os.environ.get("MERIDIAN_BIN")):
        if candidate:
            p = Path(candidate)
            if not p.is_file():
                raise ControlError(f"meridian binary: {p} does not exist")
            return p.resolve()
    found = shutil.which("meridian")
    return Path(found) if found else None
