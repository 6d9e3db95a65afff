"""A cluster of the `meridian` binary: `meridian up --config <file>` on a
cluster file of free loopback ports written into a temporary directory,
with the link proxy (`[netsim]`), mutual TLS and an admin token as the
default cluster has them, and a dashboard on a free port."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from . import http
from .cluster import Cluster
from .control import Control, find_binary
from .errors import ClusterFailed

#: The default cluster's regions (regions/local-3.toml).
DEFAULT_REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-1")


class _Ports:
    """Free loopback ports, held bound until the cluster file is written so
    no two of them are the same."""

    def __init__(self) -> None:
        self.held: list[socket.socket] = []

    def _bind(self, port: int) -> socket.socket | None:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            s.close()
            return None
        self.held.append(s)
        return s

    def one(self) -> int:
        s = self._bind(0)
        assert s is not None
        return int(s.getsockname()[1])

    def run(self, n: int) -> int:
        """The first of n consecutive free ports (the link proxies' ports
        are first_port + i × n + j)."""
        for _ in range(200):
            first = random.randrange(20000, 60000 - n)
            got = []
            for p in range(first, first + n):
                s = self._bind(p)
                if s is None:
                    break
                got.append(s)
            if len(got) == n:
                return first
            for s in got:
                self.held.remove(s)
                s.close()
        raise ClusterFailed(f"found no run of {n} free loopback ports")

    def release(self) -> None:
        for s in self.held:
            s.close()
        self.held.clear()


#: Top-level cluster file keys the generated file sets itself.
_OWN_KEYS = ("name", "data_dir", "admin_token_file", "tls", "region", "netsim", "plaintext")


def toml_value(key: str, value: object) -> str:
    """A TOML scalar: a whole number, a boolean or a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value == value and value not in (float("inf"), float("-inf")):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    raise ClusterFailed(f"settings.{key}: {value!r} is not a number, a boolean or a string")


def cluster_file(name: str, regions: Sequence[str], ports: _Ports,
                 settings: Mapping[str, object] | None = None) -> tuple[str, dict[str, int], int, int]:
    """The text of a cluster file on free ports; answers it with each
    region's DynamoDB port, the control API's port and the dashboard's.
    `settings` are more top-level keys (docs/operations.md lists them)."""
    settings = dict(settings or {})
    own = [k for k in settings if k in _OWN_KEYS]
    if own:
        raise ClusterFailed(f"settings: {', '.join(own)} is set by the library itself")
    extra = [f"{k} = {toml_value(k, v)}" for k, v in settings.items()]
    first = ports.run(len(regions) ** 2)
    api, dash = ports.one(), ports.one()
    lines = [
        f'name = "{name}"',
        'data_dir = "data"',
        # An acknowledged write survives a process crash (not power loss):
        # tests need no fsync per commit.
        *(['durability = "normal"'] if "durability" not in settings else []),
        'admin_token_file = "certs/admin.token"',
        *extra,
        "",
        "[tls]",
        'dir = "certs"',
    ]
    dynamo = {}
    for r in regions:
        grpc, dyn, met, rep, adm = (ports.one() for _ in range(5))
        dynamo[r] = dyn
        lines += ["", "[[region]]", f'name = "{r}"', f'grpc = "127.0.0.1:{grpc}"',
                  f'metrics = "127.0.0.1:{met}"', f'dynamo = "127.0.0.1:{dyn}"',
                  f'replication = "127.0.0.1:{rep}"', f'admin = "127.0.0.1:{adm}"']
    lines += ["", "[netsim]", f'api = "127.0.0.1:{api}"', f"first_port = {first}", ""]
    return "\n".join(lines), dynamo, api, dash


class LocalCluster(Cluster):
    """`meridian up` of the binary on a generated cluster file, as a
    context manager: `with LocalCluster() as c: ...` starts it, waits until
    every region answers, and on the way out stops it with SIGINT (Ctrl-C)
    and checks that it exited cleanly. Its data lives in a temporary
    directory, removed at the end unless `keep` or `workdir` is given.
    `settings` adds top-level keys to the cluster file (for example
    `{"repair_interval_ms": 0}`: anti-entropy only after reconnects)."""

    def __init__(
        self,
        binary: str | os.PathLike[str] | None = None,
        *,
        regions: Sequence[str] = DEFAULT_REGIONS,
        name: str = "testkit",
        workdir: str | os.PathLike[str] | None = None,
        keep: bool = False,
        startup_timeout: float = 90,
        settings: Mapping[str, object] | None = None,
    ) -> None:
        found = find_binary(binary)
        if found is None:
            raise ClusterFailed("no meridian binary: pass one, set MERIDIAN_BIN, or put meridian on PATH")
        if len(set(regions)) != len(regions) or not regions:
            raise ClusterFailed(f"regions: need distinct names, got {list(regions)}")
        self._own_dir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="meridian-testkit-")).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.keep = keep
        self.startup_timeout = startup_timeout
        ports = _Ports()
        try:
            text, dynamo, api, dash = cluster_file(name, regions, ports, settings)
        except BaseException:
            ports.release()
            raise
        self.config_path = self.workdir / "cluster.toml"
        self.config_path.write_text(text)
        self._ports = ports
        self._dash_port = dash
        self.log_path = self.workdir / "up.log"
        self.process: subprocess.Popen[bytes] | None = None
        super().__init__(
            regions,
            {r: f"http://127.0.0.1:{p}" for r, p in dynamo.items()},
            Control(netsim_api=f"http://127.0.0.1:{api}", dashboard=f"http://127.0.0.1:{dash}",
                    config=self.config_path, binary=found, workdir=self.workdir),
            name=name,
        )

    def log(self) -> str:
        """What `meridian up` has printed so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def _tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def start(self) -> LocalCluster:
        """Starts `meridian up` and waits until every region's DynamoDB
        endpoint, the control API and the dashboard answer."""
        if self.process is not None:
            raise ClusterFailed("already started")
        self._ports.release()
        env = dict(os.environ)
        # `meridian up` records its cluster file for other commands there.
        env["XDG_RUNTIME_DIR"] = str(self.workdir)
        env.pop("MERIDIAN_CONFIG", None)
        with open(self.log_path, "wb") as out:
            self.process = subprocess.Popen(
                [str(self.control.binary), "up", "--config", str(self.config_path),
                 "--dashboard", f"127.0.0.1:{self._dash_port}"],
                cwd=self.workdir, env=env, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            self._wait_serving()
            token = self.workdir / "certs" / "admin.token"
            self.control = dataclasses.replace(self.control, admin_token=token.read_text().strip())
        except BaseException:
            self._kill()
            raise
        return self

    def _wait_serving(self) -> None:
        assert self.process is not None
        urls = [f"{u}/" for u in self.endpoints.values()]
        urls += [f"{self.control.netsim_api}/version", f"{self.control.dashboard}/api/snapshot"]
        deadline = time.monotonic() + self.startup_timeout
        waiting = list(urls)
        while waiting:
            if self.process.poll() is not None:
                raise ClusterFailed(f"meridian up exited {self.process.returncode} while starting:\n{self._tail()}")
            if time.monotonic() > deadline:
                raise ClusterFailed(
                    f"meridian up: {', '.join(waiting)} did not answer within "
                    f"{self.startup_timeout:g} s:\n{self._tail()}")
            waiting = [u for u in waiting if not http.answers(u)]
            if waiting:
                time.sleep(0.1)

    def stop(self, timeout: float = 30) -> int:
        """SIGINT, as Ctrl-C: `meridian up` stops every region and exits.
        Raises ClusterFailed unless it exits 0 within `timeout`."""
        p = self.process
        if p is None:
            return 0
        self.process = None
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
        try:
            code = p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise ClusterFailed(f"meridian up did not stop within {timeout:g} s of SIGINT:\n{self._tail()}") from None
        if code != 0:
            raise ClusterFailed(f"meridian up exited {code} on SIGINT:\n{self._tail()}")
        return code

    def _kill(self) -> None:
        p, self.process = self.process, None
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGINT)
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def cleanup(self) -> None:
        """Removes the temporary directory (unless kept)."""
        if self._own_dir and not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                self.stop()
            else:
                self._kill()
        finally:
            self.cleanup()
