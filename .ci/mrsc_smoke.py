"""Multi-Region strong consistency with boto3, unmodified from PyPI, in AWS's
own flow (docs/strong.md): CreateTable in one region, UpdateTable with a
replica, a witness and MultiRegionConsistency STRONG; a write in one region
read at once by a strongly consistent read in another; the witness holds
nothing; two regions racing on one item meet ReplicatedWriteConflictException;
then AWS's tutorial "Deleting an MRSC global table": one replica alone is not
deleted, the other replica and the witness go in one UpdateTable sent to the
replica that stays, which is left a single-Region table holding every write.

Usage: mrsc_smoke.py EAST_ENDPOINT WEST_ENDPOINT WITNESS_ENDPOINT
(us-east-1, us-east-2 and us-west-2 of regions/local-us-3.toml: DynamoDB makes
a STRONG table only of three Regions of one Region set)
"""

import sys
import threading

import boto3
import smoke_poll
from botocore.config import Config
from botocore.exceptions import ClientError

east_url, west_url, witness_url = sys.argv[1], sys.argv[2], sys.argv[3]
CREDS = dict(region_name="us-east-1", aws_access_key_id="meridian", aws_secret_access_key="meridian")
# No retries: a ReplicatedWriteConflictException must reach this script.
NO_RETRY = Config(retries={"max_attempts": 1, "mode": "standard"})
east = boto3.client("dynamodb", endpoint_url=east_url, config=NO_RETRY, **CREDS)
west = boto3.client("dynamodb", endpoint_url=west_url, config=NO_RETRY, **CREDS)
witness = boto3.client("dynamodb", endpoint_url=witness_url, config=NO_RETRY, **CREDS)


def code(e):
    return e.response["Error"]["Code"]


def eventually(what, check, within=30.0):
    """smoke_poll's wait, an error answer counting as not yet."""
    return smoke_poll.eventually_answered("mrsc smoke", what, check, ClientError, within)


east.create_table(
    TableName="mrsc",
    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    BillingMode="PAY_PER_REQUEST",
)
east.update_table(
    TableName="mrsc",
    ReplicaUpdates=[{"Create": {"RegionName": "us-east-2"}}],
    GlobalTableWitnessUpdates=[{"Create": {"RegionName": "us-west-2"}}],
    MultiRegionConsistency="STRONG",
)
t = east.describe_table(TableName="mrsc")["Table"]
assert t["MultiRegionConsistency"] == "STRONG", t
assert t["GlobalTableWitnesses"] == [{"RegionName": "us-west-2", "WitnessStatus": "ACTIVE"}], t

def strong_and_active(t):
    return t["MultiRegionConsistency"] == "STRONG" and t["TableStatus"] == "ACTIVE"


# As with DynamoDB, a replica being created serves no item request until
# it is ACTIVE.
eventually("mrsc ACTIVE in us-east-2", lambda: strong_and_active(west.describe_table(TableName="mrsc")["Table"]))

# The first write waits for the members to settle; the SDK would retry.
eventually("a first write to mrsc", lambda: east.put_item(TableName="mrsc", Item={"pk": {"S": "k"}, "n": {"N": "0"}}))
for n in range(1, 4):
    east.put_item(TableName="mrsc", Item={"pk": {"S": "k"}, "n": {"N": str(n)}})
    got = west.get_item(TableName="mrsc", Key={"pk": {"S": "k"}}, ConsistentRead=True)["Item"]
    assert got["n"] == {"N": str(n)}, f"a consistent read in us-east-2 returned {got} after write {n}"
try:
    witness.get_item(TableName="mrsc", Key={"pk": {"S": "k"}})
    sys.exit("mrsc smoke: the witness served a read")
except ClientError as e:
    assert code(e) == "ResourceNotFoundException", e.response

# Two regions race on one item until one write meets a conflict (bounded).
conflicts = []


def race(client, tag):
    for i in range(50):
        if conflicts:
            return
        try:
            client.put_item(TableName="mrsc", Item={"pk": {"S": "hot"}, "by": {"S": f"{tag}{i}"}})
        except ClientError as e:
            if code(e) == "ReplicatedWriteConflictException":
                conflicts.append(e.response["Error"]["Message"])
                return
            if code(e) != "ThrottlingException":
                raise


for _ in range(20):
    threads = [threading.Thread(target=race, args=(c, tag)) for c, tag in ((east, "e"), (west, "w"))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if conflicts:
        break
assert conflicts, "two regions racing on one item never met ReplicatedWriteConflictException"
print(f"mrsc smoke: ReplicatedWriteConflictException: {conflicts[0]}")

# AWS's tutorial "Deleting an MRSC global table". One replica alone is not
# deleted; the other replica and the witness go together, asked of the
# replica that stays.
try:
    west.delete_table(TableName="mrsc")
    sys.exit("mrsc smoke: DeleteTable took one replica of a STRONG table alone")
except ClientError as e:
    assert code(e) == "ValidationException", e.response
west.update_table(
    TableName="mrsc",
    ReplicaUpdates=[{"Delete": {"RegionName": "us-east-1"}}],
    GlobalTableWitnessUpdates=[{"Delete": {"RegionName": "us-west-2"}}],
)
eventually(
    "mrsc a single-Region table in us-east-2",
    lambda: "Replicas" not in west.describe_table(TableName="mrsc")["Table"],
)
got = west.get_item(TableName="mrsc", Key={"pk": {"S": "k"}}, ConsistentRead=True)["Item"]
assert got["n"] == {"N": "3"}, f"the table left holds {got}, not the last write"
west.delete_table(TableName="mrsc")
print("mrsc smoke: boto3 multi-Region strong consistency ok")
