"""The errors the library raises. Each names what was wrong and the limit
or the choices, so a failing test says why without a debugger."""

from __future__ import annotations

from collections.abc import Iterable


class MeridianError(Exception):
    """Anything the library could not do."""


class UnknownRegion(MeridianError, ValueError):
    """A region the cluster does not have. Raised before anything is sent."""

    def __init__(self, region: str, regions: Iterable[str], what: str = "region") -> None:
        self.region = region
        self.regions = tuple(regions)
        super().__init__(
            f"{what}: {region!r} is not a region of this cluster; it has {', '.join(self.regions)}"
        )


class BadFault(MeridianError, ValueError):
    """A fault asked for with an unknown name or an argument out of range.
    Raised before anything is sent."""


class ClusterFailed(MeridianError):
    """The cluster did not start, did not answer, or did not stop cleanly."""


class ControlError(MeridianError):
    """A control API (the link proxy's, the dashboard's) or the CLI refused a
    request or could not be reached."""


class WaitTimeout(MeridianError, TimeoutError):
    """A condition polled for did not hold before its deadline. The message
    says what was last seen."""


class DrillError(MeridianError):
    """A drill could not run (a bad scenario file, a region that would not
    start). A drill that ran and failed its checks is not an error: its
    report says `verdict.ok` is false."""
