"""boto3, unmodified from PyPI, against two regions' DynamoDB endpoints: a
resource-based policy round trip on a table's replica (docs/dynamodb-compat.md,
Resource-based policies), a table ARN given as TableName, and the global tables API of version 2017.11.29
making a table global, adding nothing it refuses (Global tables, version
2017.11.29).

Usage: policy_smoke.py HOME_ENDPOINT HOME_REGION OTHER_ENDPOINT OTHER_REGION
"""

import json
import sys

import boto3
import smoke_poll
from botocore.exceptions import ClientError

home_url, home_region, other_url, other_region = sys.argv[1:5]
CREDS = dict(region_name="us-east-1", aws_access_key_id="meridian", aws_secret_access_key="meridian")
home = boto3.client("dynamodb", endpoint_url=home_url, **CREDS)
other = boto3.client("dynamodb", endpoint_url=other_url, **CREDS)


def eventually(what, check, within=20.0):
    return smoke_poll.eventually("policy smoke", what, check, within)


def refused(code, call, **kwargs):
    """Calls `call` and requires it to fail with the service error `code`."""
    try:
        call(**kwargs)
    except ClientError as e:
        got = e.response["Error"]["Code"]
        if got != code:
            sys.exit(f"policy smoke: {call.__name__} answered {got}, expected {code}")
        return e.response["Error"]["Message"]
    sys.exit(f"policy smoke: {call.__name__} succeeded, expected {code}")


name = "smoke_legacy"
home.create_table(
    TableName=name,
    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    BillingMode="PAY_PER_REQUEST",
    StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
)

# ---- resource-based policy ----------------------------------------------------
arn = home.describe_table(TableName=name)["Table"]["TableArn"]
policy = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                "Action": "dynamodb:GetItem",
                "Resource": arn,
            }
        ],
    }
)
refused("PolicyNotFoundException", home.get_resource_policy, ResourceArn=arn)
rev = home.put_resource_policy(ResourceArn=arn, Policy=policy, ExpectedRevisionId="NO_POLICY")["RevisionId"]
got = home.get_resource_policy(ResourceArn=arn)
if got["Policy"] != policy or got["RevisionId"] != rev:
    sys.exit(f"policy smoke: GetResourcePolicy answered {got}, not revision {rev} of the policy put")
refused(
    "PolicyNotFoundException",
    home.put_resource_policy,
    ResourceArn=arn,
    Policy=policy.replace("GetItem", "Query"),
    ExpectedRevisionId="not-" + rev,
)
deleted = home.delete_resource_policy(ResourceArn=arn, ExpectedRevisionId=rev)
if deleted.get("RevisionId") != rev:
    sys.exit(f"policy smoke: DeleteResourcePolicy answered {deleted}, not revision {rev}")
refused("PolicyNotFoundException", home.get_resource_policy, ResourceArn=arn)
print("policy smoke: resource policy ok")

# ---- a table ARN where DynamoDB takes TableName ------------------------------
home.put_item(TableName=arn, Item={"pk": {"S": "by-arn"}, "v": {"N": "1"}})
item = home.get_item(TableName=arn, Key={"pk": {"S": "by-arn"}}, ConsistentRead=True).get("Item")
if item != {"pk": {"S": "by-arn"}, "v": {"N": "1"}}:
    sys.exit(f"policy smoke: GetItem by the table's ARN answered {item}")
if home.describe_table(TableName=arn)["Table"]["TableName"] != name:
    sys.exit("policy smoke: DescribeTable by the table's ARN named another table")
home.delete_item(TableName=arn, Key={"pk": {"S": "by-arn"}})
refused("ValidationException", home.get_item, TableName=arn.replace(f":{home_region}:", f":{other_region}:"), Key={"pk": {"S": "x"}})
print("policy smoke: table ARN as TableName ok")

# ---- global tables, version 2017.11.29 ----------------------------------------
refused("GlobalTableNotFoundException", home.describe_global_table, GlobalTableName=name)
made = home.create_global_table(
    GlobalTableName=name,
    ReplicationGroup=[{"RegionName": home_region}, {"RegionName": other_region}],
)["GlobalTableDescription"]
if made["GlobalTableStatus"] != "CREATING":
    sys.exit(f"policy smoke: CreateGlobalTable answered {made}")


def active_everywhere():
    try:
        d = other.describe_global_table(GlobalTableName=name)["GlobalTableDescription"]
    except ClientError as e:
        # The other region learns of the new replicas as they replicate.
        if e.response["Error"]["Code"] == "GlobalTableNotFoundException":
            return False
        raise
    group = sorted((r["RegionName"], r["ReplicaStatus"]) for r in d["ReplicationGroup"])
    return d["GlobalTableStatus"] == "ACTIVE" and group == sorted(
        [(home_region, "ACTIVE"), (other_region, "ACTIVE")]
    )


eventually(f"global table {name} ACTIVE in {home_region} and {other_region}", active_everywhere)
listed = [g["GlobalTableName"] for g in home.list_global_tables(RegionName=other_region)["GlobalTables"]]
if name not in listed:
    sys.exit(f"policy smoke: ListGlobalTables in {other_region} misses {name}: {listed}")
refused(
    "ReplicaAlreadyExistsException",
    home.update_global_table,
    GlobalTableName=name,
    ReplicaUpdates=[{"Create": {"RegionName": other_region}}],
)
home.put_item(TableName=name, Item={"pk": {"S": "legacy"}, "v": {"N": "1"}})
eventually(
    f"the write in {other_region}",
    lambda: "Item" in other.get_item(TableName=name, Key={"pk": {"S": "legacy"}}),
)
settings = home.describe_global_table_settings(GlobalTableName=name)["ReplicaSettings"]
if sorted(s["RegionName"] for s in settings) != sorted([home_region, other_region]):
    sys.exit(f"policy smoke: DescribeGlobalTableSettings answered {settings}")
print("policy smoke: global tables 2017.11.29 ok")
