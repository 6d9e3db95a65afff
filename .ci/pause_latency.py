"""What a paused replica's clients see (docs/netsim.md, "Pausing a table's
replication"; docs/performance.md): PutItem and GetItem latency at
eu-west-1 on a global table of us-east-1 and eu-west-1, with replication
running and then with the table's replication paused at eu-west-1 (`meridian
net pause-replication`), the phases alternated. us-east-1 writes the same
keys meanwhile, so replication has work in both phases.

Usage: pause_latency.py MERIDIAN EAST_ENDPOINT WEST_ENDPOINT [N [ROUNDS]]
(against the default cluster under `meridian up`; N requests of each kind
per phase, ROUNDS pairs of phases)
"""

import statistics
import subprocess
import sys
import threading
import time

import boto3
import smoke_poll
from botocore.exceptions import ClientError

meridian, east_url, west_url = sys.argv[1], sys.argv[2], sys.argv[3]
n = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 2
# Long enough for a phase; the next phase starts once it is over.
PAUSE_SECS = 20
CREDS = dict(aws_access_key_id="meridian", aws_secret_access_key="meridian")
east = boto3.client("dynamodb", endpoint_url=east_url, region_name="us-east-1", **CREDS)
west = boto3.client("dynamodb", endpoint_url=west_url, region_name="eu-west-1", **CREDS)
TABLE = "pause-latency"


east.create_table(
    TableName=TABLE,
    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    BillingMode="PAY_PER_REQUEST",
)
east.update_table(TableName=TABLE, ReplicaUpdates=[{"Create": {"RegionName": "eu-west-1"}}])
smoke_poll.eventually_answered(
    "pause latency", "eu-west-1's replica ACTIVE",
    lambda: west.describe_table(TableName=TABLE)["Table"]["TableStatus"] == "ACTIVE",
    ClientError, 60.0)


def phase():
    """n PutItems then n GetItems at eu-west-1, one at a time, while
    us-east-1 writes the same keys: each request's milliseconds."""
    stop = threading.Event()

    def other_side():
        i = 0
        while not stop.is_set() and i < 100 * n:
            east.put_item(TableName=TABLE, Item={"pk": {"S": f"k{i % 500}"}, "from": {"S": "east"}})
            i += 1

    t = threading.Thread(target=other_side)
    t.start()
    puts, gets = [], []
    for i in range(n):
        start = time.perf_counter()
        west.put_item(TableName=TABLE, Item={"pk": {"S": f"k{i % 500}"}, "from": {"S": "west"}})
        puts.append((time.perf_counter() - start) * 1000)
    for i in range(n):
        start = time.perf_counter()
        west.get_item(TableName=TABLE, Key={"pk": {"S": f"k{i % 500}"}})
        gets.append((time.perf_counter() - start) * 1000)
    stop.set()
    t.join()
    return puts, gets


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def show(label, puts, gets):
    print(f"{label:>8}: PutItem p50 {statistics.median(puts):.2f} p99 {pct(puts, 0.99):.2f} ms; "
          f"GetItem p50 {statistics.median(gets):.2f} p99 {pct(gets, 0.99):.2f} ms ({n} each)")


for rnd in range(rounds):
    show(f"running{rnd + 1}", *phase())
    subprocess.run([meridian, "net", "pause-replication", TABLE, "eu-west-1", f"{PAUSE_SECS}s"],
                   check=True, stdout=subprocess.DEVNULL)
    began = time.monotonic()
    show(f"paused{rnd + 1}", *phase())
    if rnd + 1 < rounds:
        # The pause's own length, so the next phase runs unpaused.
        time.sleep(max(0.0, PAUSE_SECS + 1 - (time.monotonic() - began)))
east.delete_table(TableName=TABLE)
