"""A multi-account global table with boto3, unmodified from PyPI, as AWS's
developer guide's "Tutorials: Creating multi-account global tables" makes
one (docs/replicas.md, "Multi-account global tables"): account
111122223333 owns MusicTable in us-east-1 and lets account 444455556666
join; 444455556666 makes its replica in eu-west-1 with CreateTable's
GlobalTableSourceArn; each sees only its own replica; 444455556666 takes
its replication grant back (REPLICATION_NOT_AUTHORIZED) and gives it again.

Usage: multi_account_smoke.py EAST_ENDPOINT WEST_ENDPOINT
(us-east-1 and eu-west-1 of the default cluster)
"""

import json
import sys

import boto3
import smoke_poll
from botocore.exceptions import ClientError

east_url, west_url = sys.argv[1], sys.argv[2]
A, B = "111122223333", "444455556666"
SERVICE = "replication.dynamodb.amazonaws.com"
TABLE = "MusicTable"


def client(url, region, account):
    # A twelve-digit access key id is that account's (docs/dynamodb-compat.md).
    return boto3.client("dynamodb", endpoint_url=url, region_name=region,
                        aws_access_key_id=account, aws_secret_access_key="x")


a = client(east_url, "us-east-1", A)
b = client(west_url, "eu-west-1", B)
ARN_A = f"arn:aws:dynamodb:us-east-1:{A}:table/{TABLE}"
ARN_B = f"arn:aws:dynamodb:eu-west-1:{B}:table/{TABLE}"


def policy(me, joiner=None):
    statements = [{
        "Sid": "DynamoDBActionsNeededForSteadyStateReplication",
        "Effect": "Allow",
        "Action": ["dynamodb:ReadDataForReplication", "dynamodb:WriteDataForReplication",
                   "dynamodb:ReplicateSettings"],
        "Resource": me,
        "Principal": {"Service": [SERVICE]},
        "Condition": {"StringEquals": {"aws:SourceAccount": [B, A],
                                       "aws:SourceArn": [ARN_B, ARN_A]}},
    }]
    if joiner:
        statements.append({
            "Sid": "AllowTrustedAccountsToJoinThisGlobalTable",
            "Effect": "Allow",
            "Action": ["dynamodb:AssociateTableReplica"],
            "Resource": me,
            "Principal": {"AWS": [joiner]},
        })
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def eventually(what, check, within=30.0):
    """smoke_poll's wait, an error answer counting as not yet."""
    return smoke_poll.eventually_answered("multi-account smoke", what, check, ClientError, within)


def status(client):
    return client.describe_table(TableName=TABLE)["Table"]["TableStatus"]


def has(client, key):
    return "Item" in client.get_item(TableName=TABLE, Key={"Artist": {"S": key}})


a.create_table(
    TableName=TABLE,
    AttributeDefinitions=[{"AttributeName": "Artist", "AttributeType": "S"}],
    KeySchema=[{"AttributeName": "Artist", "KeyType": "HASH"}],
    BillingMode="PAY_PER_REQUEST",
    GlobalTableSettingsReplicationMode="ENABLED",
)
for i in range(3):
    a.put_item(TableName=TABLE, Item={"Artist": {"S": f"a{i}"}})

join = dict(TableName=TABLE, GlobalTableSourceArn=ARN_A,
            GlobalTableSettingsReplicationMode="ENABLED", ResourcePolicy=policy(ARN_B))


def refused_join():
    try:
        b.create_table(**join)
        raise SystemExit("a join the source's policy does not allow was taken")
    except ClientError as e:
        # The table is a catalog row: until it reaches eu-west-1, the
        # source is not found there.
        if e.response["Error"]["Code"] == "ResourceNotFoundException":
            return None
        assert e.response["Error"]["Code"] == "AccessDeniedException", e.response
        return True


smoke_poll.eventually("multi-account smoke", "the join refused by the source's policy",
                      refused_join, 30.0)

a.put_resource_policy(ResourceArn=ARN_A, Policy=policy(ARN_A, joiner=B))


def joined():
    try:
        return b.create_table(**join)["TableDescription"]
    except ClientError as e:
        # The source's policy is a catalog row: it reaches eu-west-1 within
        # the replication lag.
        if e.response["Error"]["Code"] == "AccessDeniedException":
            return None
        raise


made = smoke_poll.eventually("multi-account smoke", "the join allowed", joined, 30.0)
assert made["TableArn"] == ARN_B, made
eventually("eu-west-1's replica ACTIVE", lambda: status(b) == "ACTIVE")
eventually("A's items in B's replica", lambda: all(has(b, f"a{i}") for i in range(3)))
replica = a.describe_table(TableName=TABLE)["Table"]["Replicas"][0]
assert replica["ReplicaArn"] == ARN_B and replica["GlobalTableSettingsReplicationMode"] == "ENABLED", replica
assert b.list_tables()["TableNames"] == [TABLE]
assert TABLE not in client(west_url, "eu-west-1", A).list_tables()["TableNames"]
b.put_item(TableName=TABLE, Item={"Artist": {"S": "b0"}})
eventually("B's write in us-east-1", lambda: has(a, "b0"))

# B takes its grant back, then gives it again.
b.put_resource_policy(ResourceArn=ARN_B, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": A}, "Action": "dynamodb:GetItem", "Resource": ARN_B}]}))
eventually("B's replica not authorized", lambda: status(b) == "REPLICATION_NOT_AUTHORIZED")
eventually("A sees it", lambda: a.describe_table(TableName=TABLE)["Table"]["Replicas"][0][
    "ReplicaStatus"] == "REPLICATION_NOT_AUTHORIZED")
b.put_resource_policy(ResourceArn=ARN_B, Policy=policy(ARN_B))
eventually("B's replica ACTIVE again", lambda: status(b) == "ACTIVE")
b.put_item(TableName=TABLE, Item={"Artist": {"S": "b1"}})
eventually("B's write in us-east-1 again", lambda: has(a, "b1"))

b.delete_table(TableName=TABLE)
eventually("B's replica gone", lambda: TABLE not in b.list_tables()["TableNames"])
a.delete_table(TableName=TABLE)
print("multi-account smoke: ok")
