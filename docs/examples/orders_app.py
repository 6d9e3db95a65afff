"""A small application to rehearse a disaster with: boto3, unmodified from
PyPI, placing orders in a DynamoDB global table through Meridian's DynamoDB
endpoints, one writer per Region, as an application deployed in each Region
writes to its own (docs/drills.md, "Drill your own application").

  python3 docs/examples/orders_app.py --setup
  python3 docs/examples/orders_app.py --seconds 30 --out app.json

--setup makes the table as AWS makes a global table (CreateTable in the
first Region, then UpdateTable's ReplicaUpdates adds the others) and waits
until every replica is ACTIVE. A run puts one order item per request
(`order_id` = REGION-N) and, every fourth request, adds to one of three
stock counters every Region updates (UpdateItem ADD), which concurrent
Regions overwrite: the conflicts a drill then reports. What each writer saw
(acknowledged, failed, the first and last failure) is printed, and written
as JSON with --out, to read beside the drill's report.

Endpoints default to the default cluster's (regions/local-3.toml); pass
--endpoint NAME=URL for each writer to write through another address. A
name that is not a Region labels the writer (and its keys), as for the
failover endpoint of `meridian up` (docs/failover.md):

  python3 docs/examples/orders_app.py --endpoint app=http://127.0.0.1:8100 --seconds 40
"""

import argparse
import json
import sys
import threading
import time

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

DEFAULT_ENDPOINTS = {
    "us-east-1": "http://127.0.0.1:8101",
    "eu-west-1": "http://127.0.0.1:8102",
    "ap-southeast-1": "http://127.0.0.1:8103",
}
TABLE = "orders"
# Meridian's endpoints accept these keys (docs/dynamodb-compat.md).
KEYS = dict(aws_access_key_id="meridian", aws_secret_access_key="meridian")
# Each request bounded, so a Region that stops answering shows as failures.
CONFIG = Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 1})


def client(name, url):
    """A DynamoDB client of `url`, signing for Region `name`, or for the
    home Region when `name` only labels an endpoint (such as the failover
    endpoint, which forwards the request as signed)."""
    region = name if name in DEFAULT_ENDPOINTS else next(iter(DEFAULT_ENDPOINTS))
    return boto3.client("dynamodb", endpoint_url=url, region_name=region, config=CONFIG, **KEYS)


def setup(endpoints, within=60.0):
    """The global table: created in the first Region, a replica added in each
    other, then every replica waited for until ACTIVE."""
    (home, url), others = next(iter(endpoints.items())), list(endpoints)[1:]
    c = client(home, url)
    try:
        c.create_table(
            TableName=TABLE,
            AttributeDefinitions=[{"AttributeName": "order_id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "order_id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
    except ClientError as e:
        if e.response["Error"]["Code"] != "ResourceInUseException":
            raise
    deadline = time.monotonic() + within
    while c.describe_table(TableName=TABLE)["Table"]["TableStatus"] != "ACTIVE":
        if time.monotonic() > deadline:
            sys.exit(f"{TABLE} was not ACTIVE in {home} within {within:.0f} s")
        time.sleep(0.2)
    held = {r["RegionName"] for r in c.describe_table(TableName=TABLE)["Table"].get("Replicas", [])}
    for region in others:
        if region not in held:
            # One replica change at a time, as AWS takes them.
            c.update_table(TableName=TABLE, ReplicaUpdates=[{"Create": {"RegionName": region}}])
            while True:
                replicas = c.describe_table(TableName=TABLE)["Table"].get("Replicas", [])
                if any(r["RegionName"] == region and r["ReplicaStatus"] == "ACTIVE" for r in replicas):
                    break
                if time.monotonic() > deadline:
                    sys.exit(f"the replica of {TABLE} in {region} was not ACTIVE within {within:.0f} s")
                time.sleep(0.2)
    print(f"{TABLE}: ACTIVE in {', '.join(endpoints)}")


def writer(region, url, seconds, rate, seen):
    """Writes through one Region until `seconds` have passed, at about `rate`
    requests a second; counts what it saw in `seen`."""
    c = client(region, url)
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < seconds:
        n += 1
        at = round(time.monotonic() - start, 3)
        try:
            if n % 4 == 0:
                c.update_item(
                    TableName=TABLE,
                    Key={"order_id": {"S": f"stock-{n % 3}"}},
                    UpdateExpression="ADD qty :one SET last_region = :r",
                    ExpressionAttributeValues={":one": {"N": "1"}, ":r": {"S": region}},
                )
            else:
                c.put_item(
                    TableName=TABLE,
                    Item={
                        "order_id": {"S": f"{region}-{n}"},
                        "region": {"S": region},
                        "placed_at": {"N": str(at)},
                    },
                )
            seen["acknowledged"] += 1
        except (BotoCoreError, ClientError) as e:
            seen["failed"] += 1
            seen.setdefault("first_failure_s", at)
            seen["last_failure_s"] = at
            seen["last_error"] = str(e)[:200]
        # Paced from the start, so a slow answer does not lower the rate.
        time.sleep(max(0.0, start + n / rate - time.monotonic()))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--endpoint", action="append", default=[], metavar="NAME=URL",
                   help="a writer's name (a Region, or a label) and the DynamoDB endpoint it writes through; "
                        "repeat for each (default: the default cluster's three Regions)")
    p.add_argument("--setup", action="store_true", help="create the global table and wait until it is ACTIVE")
    p.add_argument("--seconds", type=float, default=30.0, help="how long to write (at most 3600)")
    p.add_argument("--rate", type=float, default=20.0, help="requests a second per Region (at most 1000)")
    p.add_argument("--out", help="write what each writer saw here, as JSON")
    a = p.parse_args()
    bad = [e for e in a.endpoint if "=" not in e]
    if bad:
        sys.exit(f"--endpoint takes NAME=URL, got {bad[0]!r}")
    endpoints = dict(e.split("=", 1) for e in a.endpoint) if a.endpoint else DEFAULT_ENDPOINTS
    if not 0 < a.seconds <= 3600:
        sys.exit(f"--seconds must be in (0, 3600], got {a.seconds}")
    if not 0 < a.rate <= 1000:
        sys.exit(f"--rate must be in (0, 1000], got {a.rate}")
    if a.setup:
        setup(endpoints)
        return
    seen = {r: {"acknowledged": 0, "failed": 0} for r in endpoints}
    threads = [
        threading.Thread(target=writer, args=(r, u, a.seconds, a.rate, seen[r])) for r, u in endpoints.items()
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for region, s in seen.items():
        failures = f", failed from {s['first_failure_s']} s to {s['last_failure_s']} s" if s["failed"] else ""
        print(f"{region}: {s['acknowledged']} acknowledged, {s['failed']} failed{failures}")
    if a.out:
        with open(a.out, "w") as f:
            json.dump(seen, f, indent=2)


if __name__ == "__main__":
    main()
