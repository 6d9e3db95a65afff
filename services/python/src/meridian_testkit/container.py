"""A `testcontainers` container of the one-container image: a whole
cluster (three regions, the edge endpoint that routes each request to the
region its signature names, the dashboard, the failover endpoint) from

    docker run -p 4566:4566 -p 7180:7180 meridian:local up

(docs/containers.md). Needs the `container` extra (`pip install
meridian-testkit[container]`).

Every region's clients go to the edge (port 4566) and name their region,
as with `AWS_ENDPOINT_URL`. The link proxy's control API is not published
by that command, so faults, the conflict log and status go through the
dashboard (port 7180) with the admin token the container prints in its
dashboard URL."""

from __future__ import annotations

import re
import time
from typing import Any

from testcontainers.core.container import DockerContainer

from . import http
from .cluster import Cluster
from .control import Control
from .errors import ClusterFailed

EDGE_PORT = 4566
DASHBOARD_PORT = 7180
_TOKEN = re.compile(r"#token=([0-9A-Za-z_-]+)")


class MeridianContainer(DockerContainer):
    """`meridian:local up` with its edge and dashboard published on free
    host ports. `with MeridianContainer() as m: cluster = m.cluster()`."""

    def __init__(self, image: str = "meridian:local", *, startup_timeout: float = 60,
                 **kwargs: Any) -> None:
        super().__init__(image, **kwargs)
        self.with_command("up")
        self.with_exposed_ports(EDGE_PORT, DASHBOARD_PORT)
        self.startup_timeout = startup_timeout
        self._cluster: Cluster | None = None

    def _url(self, port: int) -> str:
        host = self.get_container_host_ip()
        # The dashboard answers only requests addressed to loopback names.
        if host in ("localhost", "0.0.0.0"):
            host = "127.0.0.1"
        return f"http://{host}:{self.get_exposed_port(port)}"

    def start(self) -> MeridianContainer:
        super().start()
        try:
            self._cluster = self._wait_serving()
        except BaseException:
            self.stop()
            raise
        return self

    def _logs(self) -> str:
        out, err = self.get_logs()
        return (out or b"").decode(errors="replace") + (err or b"").decode(errors="replace")

    def _wait_serving(self) -> Cluster:
        deadline = time.monotonic() + self.startup_timeout
        seen: Any = None
        while time.monotonic() < deadline:
            try:
                dash = self._url(DASHBOARD_PORT)
                status, snap = http.call("GET", f"{dash}/api/snapshot", timeout=2)
            except Exception as e:  # the port is not mapped yet, or not listening
                seen = e
                time.sleep(0.2)
                continue
            seen = snap
            token = _TOKEN.search(self._logs())
            regions = snap.get("regions", []) if status == 200 and isinstance(snap, dict) else []
            edge = self._url(EDGE_PORT)
            if regions and all(r.get("up") for r in regions) and http.listening(f"{edge}/"):
                names = [str(r["name"]) for r in regions]
                return Cluster(
                    names,
                    {r: edge for r in names},
                    Control(dashboard=dash, admin_token=token[1] if token else None),
                    name=str(snap.get("cluster", "container")),
                )
            time.sleep(0.2)
        raise ClusterFailed(
            f"the container did not serve every region within {self.startup_timeout:g} s; "
            f"last seen: {seen}\n{self._logs()[-3000:]}")

    def cluster(self) -> Cluster:
        """The running container's cluster."""
        if self._cluster is None:
            raise ClusterFailed("the container is not started")
        return self._cluster
