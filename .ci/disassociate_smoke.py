"""Disassociating a replica with boto3, unmodified from PyPI, as AWS's
developer guide's "Disassociating a global table replica" shows it
(docs/replicas.md): a global table of us-east-1 and eu-west-1; eu-west-1's
disassociation protection is on until turned off; its replica then leaves
with every item it held; each side keeps its own writes from then on, and
with two replicas both become single-Region tables.

Usage: disassociate_smoke.py EAST_ENDPOINT WEST_ENDPOINT
(us-east-1 and eu-west-1 of the default cluster)
"""

import sys
import time

import boto3
import smoke_poll
from botocore.exceptions import ClientError

east_url, west_url = sys.argv[1], sys.argv[2]
CREDS = dict(aws_access_key_id="meridian", aws_secret_access_key="meridian")
east = boto3.client("dynamodb", endpoint_url=east_url, region_name="us-east-1", **CREDS)
west = boto3.client("dynamodb", endpoint_url=west_url, region_name="eu-west-1", **CREDS)
TABLE = "split"


def eventually(what, check, within=30.0):
    """smoke_poll's wait, an error answer counting as not yet."""
    return smoke_poll.eventually_answered("disassociate smoke", what, check, ClientError, within)


def described(client):
    return client.describe_table(TableName=TABLE)["Table"]


east.create_table(
    TableName=TABLE,
    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    BillingMode="PAY_PER_REQUEST",
)
east.update_table(TableName=TABLE, ReplicaUpdates=[{"Create": {"RegionName": "eu-west-1"}}])
eventually("eu-west-1's replica ACTIVE", lambda: described(west)["TableStatus"] == "ACTIVE")
for i in range(5):
    east.put_item(TableName=TABLE, Item={"pk": {"S": f"k{i}"}})
eventually(
    "every item in eu-west-1",
    lambda: west.scan(TableName=TABLE, ConsistentRead=True)["Count"] == 5,
)

assert described(west)["DisassociationProtectionEnabled"] is True, described(west)
split = dict(
    TableName=TABLE,
    ReplicaUpdates=[
        {"Disassociate": {"RegionName": "eu-west-1", "DisassociationMode": "WAIT_FOR_REPLICATION"}}
    ],
)
try:
    west.update_table(**split)
    sys.exit("disassociate smoke: a protected replica was disassociated")
except ClientError as e:
    assert e.response["Error"]["Code"] == "ValidationException", e.response
west.update_table(TableName=TABLE, DisassociationProtectionEnabled=False)
west.update_table(**split)
eventually(
    "eu-west-1 a single-Region table",
    lambda: described(west)["TableStatus"] == "ACTIVE" and "Replicas" not in described(west),
)
eventually("us-east-1 a single-Region table", lambda: "Replicas" not in described(east))
assert west.scan(TableName=TABLE)["Count"] == 5

# From now on each side keeps its own writes: a write in eu-west-1 is
# never seen in us-east-1, however long one waits for it (bounded here).
west.put_item(TableName=TABLE, Item={"pk": {"S": "west-only"}})
east.put_item(TableName=TABLE, Item={"pk": {"S": "east-only"}})
deadline = time.monotonic() + 2.0
while time.monotonic() < deadline:
    assert "Item" not in east.get_item(TableName=TABLE, Key={"pk": {"S": "west-only"}}), "crossed"
    assert "Item" not in west.get_item(TableName=TABLE, Key={"pk": {"S": "east-only"}}), "crossed"
    time.sleep(0.2)
west.delete_table(TableName=TABLE)
east.delete_table(TableName=TABLE)
print("disassociate smoke: boto3 disassociation ok")
