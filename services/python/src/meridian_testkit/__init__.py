"""Test applications against Meridian, a local multi-region stand-in for
DynamoDB Global Tables, from boto3 and pytest (docs/python.md).

    from meridian_testkit import LocalCluster

    with LocalCluster() as cluster:              # `meridian up` on free ports
        cluster.create_global_table("orders", partition_key=("id", "S"))
        us, eu = cluster.resource("us-east-1"), cluster.resource("eu-west-1")
        with cluster.partition("us-east-1", "eu-west-1"):
            us.Table("orders").put_item(Item={"id": "o1"})
        cluster.wait_replicated("orders", {"id": "o1"}, regions=["eu-west-1"])
"""

from .cluster import Cluster
from .conflicts import Conflict, Version
from .control import Control
from .drills import DrillReport, Heal, LinkFigures, Verdict, Workload, run_drill
from .errors import (
    BadFault,
    ClusterFailed,
    ControlError,
    DrillError,
    MeridianError,
    UnknownRegion,
    WaitTimeout,
)
from .faults import FAULTS, Fault, Isolate, Lag, Loss, Partition, PauseReplication
from .local import DEFAULT_REGIONS, LocalCluster
from .wait import poll

__version__ = "0.1.0"

__all__ = [
    "BadFault",
    "Cluster",
    "ClusterFailed",
    "Conflict",
    "Control",
    "ControlError",
    "DEFAULT_REGIONS",
    "DrillError",
    "DrillReport",
    "FAULTS",
    "Fault",
    "Heal",
    "Isolate",
    "Lag",
    "LinkFigures",
    "LocalCluster",
    "Loss",
    "MeridianError",
    "Partition",
    "PauseReplication",
    "UnknownRegion",
    "Verdict",
    "Version",
    "WaitTimeout",
    "Workload",
    "poll",
    "run_drill",
]
