"""boto3 and PynamoDB, unmodified from PyPI, against two regions' DynamoDB
endpoints: what is written through one region is read through the other.

Each table is made as AWS makes one: CreateTable in the writing region, then
UpdateTable's ReplicaUpdates adds the reading region's replica.

Usage: sdk_smoke.py WRITE_ENDPOINT READ_ENDPOINT READ_REGION
"""

import sys

import boto3
import smoke_poll
from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError
from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UnicodeSetAttribute
from pynamodb.exceptions import PutError
from pynamodb.models import Model

write_url, read_url, read_region = sys.argv[1], sys.argv[2], sys.argv[3]
CREDS = dict(region_name="us-east-1", aws_access_key_id="meridian", aws_secret_access_key="meridian")


def eventually(what, check, within=20.0):
    return smoke_poll.eventually("sdk smoke", what, check, within)


# ---- boto3: client and resource APIs ----------------------------------------
client = boto3.client("dynamodb", endpoint_url=write_url, **CREDS)


def make_global(name):
    """Adds the reading region's replica of `name` and waits until it is ACTIVE."""
    client.update_table(TableName=name, ReplicaUpdates=[{"Create": {"RegionName": read_region}}])

    def active():
        replicas = client.describe_table(TableName=name)["Table"].get("Replicas", [])
        return any(r["RegionName"] == read_region and r["ReplicaStatus"] == "ACTIVE" for r in replicas)

    eventually(f"{name}'s replica in {read_region} ACTIVE", active)


writer = boto3.resource("dynamodb", endpoint_url=write_url, **CREDS)
reader = boto3.resource("dynamodb", endpoint_url=read_url, **CREDS)

table = writer.create_table(
    TableName="smoke_boto3",
    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    AttributeDefinitions=[
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "N"},
    ],
    BillingMode="PAY_PER_REQUEST",
)
table.wait_until_exists()
make_global("smoke_boto3")
with table.batch_writer() as batch:
    for i in range(30):
        batch.put_item(Item={"pk": "p", "sk": i, "tags": {"a", "b"}, "n": i * 2})
table.update_item(
    Key={"pk": "p", "sk": 3},
    UpdateExpression="SET n = n + :one, note = :note",
    ExpressionAttributeValues={":one": 1, ":note": "updated"},
)
try:
    table.put_item(Item={"pk": "p", "sk": 3}, ConditionExpression=Attr("pk").not_exists())
    sys.exit("sdk smoke: a failed condition was accepted")
except ClientError as e:
    assert e.response["Error"]["Code"] == "ConditionalCheckFailedException", e.response

remote = reader.Table("smoke_boto3")
eventually("the boto3 table in the read region", lambda: remote.table_status == "ACTIVE" or remote.reload())
got = eventually(
    "the updated item in the read region",
    lambda: remote.get_item(Key={"pk": "p", "sk": 3}).get("Item", {}).get("note") == "updated"
    and remote.get_item(Key={"pk": "p", "sk": 3})["Item"],
)
assert got["n"] == 7 and got["tags"] == {"a", "b"}, got
page = eventually(
    "all 30 items in the read region",
    lambda: (r := remote.query(KeyConditionExpression=Key("pk").eq("p") & Key("sk").between(10, 19)))
    and len(r["Items"]) == 10
    and r,
)
assert [int(i["sk"]) for i in page["Items"]] == list(range(10, 20)), page
# Paginated scan through boto3's paginator, one item a page.
scanned = [i for p in client.get_paginator("scan").paginate(TableName="smoke_boto3", Limit=7) for i in p["Items"]]
assert len(scanned) == 30, len(scanned)
# UpdateTable through the resource API.
table.update(BillingMode="PROVISIONED", ProvisionedThroughput={"ReadCapacityUnits": 3, "WriteCapacityUnits": 4})
eventually(
    "the new throughput in the read region",
    lambda: (remote.reload() or True) and remote.provisioned_throughput["ReadCapacityUnits"] == 3,
)
print("sdk smoke: boto3 ok")


# ---- boto3: secondary indexes -------------------------------------------------
client.create_table(
    TableName="smoke_index",
    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    AttributeDefinitions=[
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "N"},
        {"AttributeName": "status", "AttributeType": "S"},
        {"AttributeName": "at", "AttributeType": "N"},
    ],
    GlobalSecondaryIndexes=[
        {
            "IndexName": "by_status",
            "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }
    ],
    LocalSecondaryIndexes=[
        {
            "IndexName": "by_at",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "at", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
        }
    ],
    BillingMode="PAY_PER_REQUEST",
)
make_global("smoke_index")
indexed = writer.Table("smoke_index")
with indexed.batch_writer() as batch:
    for i in range(20):
        row = {"pk": "p", "sk": i, "at": 100 - i}
        if i % 2 == 0:
            row["status"] = "open"
        batch.put_item(Item=row)
remote = reader.Table("smoke_index")
open_rows = eventually(
    "the global index in the read region",
    lambda: (lambda r: r if r["Count"] == 10 else None)(
        remote.query(IndexName="by_status", KeyConditionExpression=Key("status").eq("open") & Key("sk").gte(0))
    ),
)
assert set(open_rows["Items"][0]) == {"pk", "sk", "status"}, open_rows["Items"][0]
by_at = indexed.query(
    IndexName="by_at", KeyConditionExpression=Key("pk").eq("p"), Limit=3, ConsistentRead=True
)
assert [r["at"] for r in by_at["Items"]] == [81, 82, 83], by_at["Items"]
assert set(by_at["LastEvaluatedKey"]) == {"pk", "sk", "at"}, by_at["LastEvaluatedKey"]
# An index added to a table that holds data is built in every region.
client.update_table(
    TableName="smoke_index",
    AttributeDefinitions=[{"AttributeName": "at", "AttributeType": "N"}],
    GlobalSecondaryIndexUpdates=[
        {
            "Create": {
                "IndexName": "by_at_global",
                "KeySchema": [{"AttributeName": "at", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        }
    ],
)
read_client = boto3.client("dynamodb", endpoint_url=read_url, **CREDS)


def built(c):
    d = c.describe_table(TableName="smoke_index")["Table"]
    return [g for g in d.get("GlobalSecondaryIndexes", []) if g["IndexName"] == "by_at_global" and g["IndexStatus"] == "ACTIVE"]


eventually("the added index ACTIVE in the read region", lambda: built(read_client))
found = remote.query(IndexName="by_at_global", KeyConditionExpression=Key("at").eq(90))["Items"]
assert [r["sk"] for r in found] == [10], found
try:
    remote.query(IndexName="by_status", KeyConditionExpression=Key("status").eq("open"), ConsistentRead=True)
    sys.exit("sdk smoke: a strongly consistent read of a global index was accepted")
except ClientError as e:
    assert e.response["Error"]["Code"] == "ValidationException", e.response
print("sdk smoke: boto3 secondary indexes ok")


# ---- boto3's dynamodbstreams client ---------------------------------------------
client.create_table(
    TableName="smoke_stream",
    AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
    KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    BillingMode="PAY_PER_REQUEST",
    StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
)
make_global("smoke_stream")
client.put_item(TableName="smoke_stream", Item={"id": {"S": "a"}, "v": {"N": "1"}})
client.update_item(
    TableName="smoke_stream",
    Key={"id": {"S": "a"}},
    UpdateExpression="SET v = :v",
    ExpressionAttributeValues={":v": {"N": "2"}},
)
client.delete_item(TableName="smoke_stream", Key={"id": {"S": "a"}})


def stream_events(url):
    try:
        return read_stream(url)
    except ClientError:
        return [], []  # the table has not reached that region yet


def read_stream(url):
    streams = boto3.client("dynamodbstreams", endpoint_url=url, **CREDS)
    [stream] = streams.list_streams(TableName="smoke_stream")["Streams"]
    shard = streams.describe_stream(StreamArn=stream["StreamArn"])["StreamDescription"]["Shards"][0]
    it = streams.get_shard_iterator(
        StreamArn=stream["StreamArn"], ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = streams.get_records(ShardIterator=it, Limit=100)["Records"]
    return [r["eventName"] for r in records], records


# The writing region's stream, and the reading region's, which recorded
# the same changes as it applied them.
for url in (write_url, read_url):
    events, records = eventually(
        f"three stream records at {url}",
        lambda: (lambda e: e if len(e[0]) == 3 else None)(stream_events(url)),
    )
    assert events == ["INSERT", "MODIFY", "REMOVE"], events
    assert records[1]["dynamodb"]["OldImage"]["v"] == {"N": "1"}, records[1]
    assert records[1]["dynamodb"]["NewImage"]["v"] == {"N": "2"}, records[1]
print("sdk smoke: boto3 dynamodbstreams ok")


# ---- PynamoDB -----------------------------------------------------------------
def model(url):
    class Thread(Model):
        class Meta:
            table_name = "smoke_pynamodb"
            host = url
            region = "us-east-1"
            aws_access_key_id = "meridian"
            aws_secret_access_key = "meridian"
            billing_mode = "PAY_PER_REQUEST"

        forum = UnicodeAttribute(hash_key=True)
        subject = UnicodeAttribute(range_key=True)
        views = NumberAttribute(default=0)
        tags = UnicodeSetAttribute(null=True)

    return Thread


Written, Read = model(write_url), model(read_url)
Written.create_table(wait=True)
make_global("smoke_pynamodb")
Written("rust", "replication", views=1, tags={"lww"}).save()
post = Written.get("rust", "replication")
post.update(actions=[Written.views.add(5), Written.tags.add({"hlc"})])
try:
    Written("rust", "replication").save(condition=Written.forum.does_not_exist())
    sys.exit("sdk smoke: PynamoDB saved over an existing item under does_not_exist")
except PutError:
    pass
eventually("the PynamoDB table in the read region", lambda: Read.exists())
seen = eventually(
    "the PynamoDB update in the read region",
    lambda: [p for p in Read.query("rust") if p.views == 6],
)
assert seen[0].tags == {"lww", "hlc"}, seen[0].tags
assert Read.count("rust", Read.subject.startswith("repl")) == 1
print("sdk smoke: PynamoDB ok")
