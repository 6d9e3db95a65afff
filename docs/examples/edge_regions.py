"""Three Regions, one address: a boto3 program with a DynamoDB client in
each Region and no endpoint in its code, as an application written for AWS
has. Pointed at Meridian's edge by the environment alone (docs/edge.md):

  export AWS_ENDPOINT_URL=http://127.0.0.1:4566
  export AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x
  python3 docs/examples/edge_regions.py

Each client signs for its own Region, and the edge sends each request to
the Region it is signed for. The program makes a global table as AWS makes
one (CreateTable in the first Region, then UpdateTable's ReplicaUpdates),
writes one item in each Region, and waits until every Region reads every
Region's item: the writes replicated. It checks that each Region describes
the table with its own ARN, and exits non-zero, saying what it did not see,
otherwise.
"""

import sys
import time
import uuid

import boto3
from botocore.exceptions import ClientError

REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-1"]
TABLE = "edge-regions"


def eventually(what, check, within=30.0):
    """Polls `check` until it returns a true value; exits after `within`
    seconds saying what was not seen."""
    deadline = time.monotonic() + within
    while True:
        try:
            value = check()
        except ClientError:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            sys.exit(f"edge_regions: {what} not seen within {within} s")
        time.sleep(0.1)


def main():
    clients = {r: boto3.client("dynamodb", region_name=r) for r in REGIONS}
    home, others = clients[REGIONS[0]], REGIONS[1:]
    try:
        home.create_table(
            TableName=TABLE,
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
    except ClientError as e:
        if e.response["Error"]["Code"] != "ResourceInUseException":
            raise
    status = lambda c: c.describe_table(TableName=TABLE)["Table"]["TableStatus"]
    eventually("the table ACTIVE", lambda: status(home) == "ACTIVE")
    have = {r["RegionName"] for r in home.describe_table(TableName=TABLE)["Table"].get("Replicas", [])}
    missing = [r for r in others if r not in have]
    if missing:
        home.update_table(TableName=TABLE, ReplicaUpdates=[{"Create": {"RegionName": r}} for r in missing])
    for r in others:
        eventually(f"the replica in {r} ACTIVE", lambda c=clients[r]: status(c) == "ACTIVE")

    for region, c in clients.items():
        arn = c.describe_table(TableName=TABLE)["Table"]["TableArn"]
        if f":{region}:" not in arn:
            sys.exit(f"edge_regions: the client for {region} was answered by another Region ({arn})")

    run = uuid.uuid4().hex[:8]
    for region, c in clients.items():
        c.put_item(TableName=TABLE, Item={"pk": {"S": f"{run}-{region}"}, "written_in": {"S": region}})
    for reader, c in clients.items():
        for writer in REGIONS:
            key = {"pk": {"S": f"{run}-{writer}"}}
            item = eventually(
                f"{writer}'s write in {reader}",
                lambda c=c, key=key: c.get_item(TableName=TABLE, Key=key).get("Item"),
            )
            if item["written_in"]["S"] != writer:
                sys.exit(f"edge_regions: {reader} read {item} for {writer}'s write")
    print(f"edge_regions: each of {', '.join(REGIONS)} wrote its item and read the others'")


if __name__ == "__main__":
    main()
