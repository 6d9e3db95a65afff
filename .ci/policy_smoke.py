"""boto3, unmodified from PyPI, against two regions' DynamoDB endpoints: a
resource-based policy round trip on a table's replica (docs/dynamodb-compat.md,
Resource-based policies), a table ARN given as TableName, and a global table's
life as AWS runs it: CreateGlobalTable refused, a replica added with UpdateTable
that the legacy calls do not know, and its stream kept on (Global tables as AWS
runs them).

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

# ---- global tables as AWS runs them ------------------------------------------
msg = refused(
    "ValidationException",
    home.create_global_table,
    GlobalTableName=name,
    ReplicationGroup=[{"RegionName": home_region}, {"RegionName": other_region}],
)
if "DynamoDB global tables version 2017.11.29 is not supported" not in msg:
    sys.exit(f"policy smoke: CreateGlobalTable refused with {msg!r}")
# A global table of version 2019.11.21 instead, which the legacy calls do not know.
home.update_table(TableName=name, ReplicaUpdates=[{"Create": {"RegionName": other_region}}])


def active_in_other():
    try:
        t = other.describe_table(TableName=name)["Table"]
    except ClientError as e:
        # The other region learns of its replica as it replicates.
        if e.response["Error"]["Code"] == "ResourceNotFoundException":
            return False
        raise
    return t["TableStatus"] == "ACTIVE"


eventually(f"{name}'s replica in {other_region} ACTIVE", active_in_other)
refused("GlobalTableNotFoundException", home.describe_global_table, GlobalTableName=name)
listed = home.list_global_tables(RegionName=other_region)["GlobalTables"]
if listed:
    sys.exit(f"policy smoke: ListGlobalTables in {other_region} lists {listed}")
msg = refused(
    "ValidationException",
    other.update_table,
    TableName=name,
    StreamSpecification={"StreamEnabled": False},
)
if "Disabling Stream is not allowed for a Global Table replica" not in msg:
    sys.exit(f"policy smoke: disabling a global table's stream refused with {msg!r}")
home.put_item(TableName=name, Item={"pk": {"S": "global"}, "v": {"N": "1"}})
eventually(
    f"the write in {other_region}",
    lambda: "Item" in other.get_item(TableName=name, Key={"pk": {"S": "global"}}),
)
print("policy smoke: global tables as AWS runs them ok")
