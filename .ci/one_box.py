"""Drives `docker run meridian:local up` (one container, a whole cluster)
from the host with boto3, for .ci/containers.sh. Every wait polls with a
deadline.

  one_box.py serving T0 PORT...   waits until every DynamoDB endpoint answers
                                  ListTables; prints the seconds since T0
                                  (the epoch time `docker run` was started)
  one_box.py write EAST WEST AP   a global table in the three regions, one
                                  item written in eu-west-1 and read in the
                                  other two
  one_box.py read EAST WEST AP    the item, read in every region
  one_box.py edge EDGE EAST WEST AP
                                  with only the edge's URL: a write in each
                                  region reaches the other two (read at their
                                  own endpoints)
"""

import sys
import time

import boto3
from botocore.config import Config

TABLE = "onebox"
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-1"]
ITEM = {"id": {"S": "written-in-eu-west-1"}, "v": {"N": "7"}}


def client(port, region, timeout=2.0):
    return boto3.client(
        "dynamodb",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name=region,
        aws_access_key_id="meridian",
        aws_secret_access_key="meridian",
        config=Config(
            connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 1}
        ),
    )


def eventually(what, check, within=30.0):
    end = time.monotonic() + within
    last = None
    while time.monotonic() < end:
        try:
            if check():
                return
        except Exception as e:  # noqa: BLE001 - any failure is a retry here
            last = e
        time.sleep(0.05)
    sys.exit(f"one box: {what}: not within {within} s (last error: {last})")


def serving(t0, ports):
    clients = [client(p, r, timeout=0.3) for p, r in zip(ports, REGIONS)]
    pending = dict(zip(REGIONS, clients))

    def all_answer():
        for name, c in list(pending.items()):
            try:
                c.list_tables()
                del pending[name]
            except Exception:  # noqa: BLE001 - not serving yet
                pass
        return not pending

    eventually(f"every region answering ListTables (still waiting: {list(pending)})", all_answer)
    print(f"{time.time() - t0:.2f}")


def regional(ports):
    return [client(p, r) for p, r in zip(ports, REGIONS)]


def active(c):
    return c.describe_table(TableName=TABLE)["Table"]["TableStatus"] == "ACTIVE"


def holds(c, item):
    got = c.get_item(TableName=TABLE, Key={"id": item["id"]}, ConsistentRead=True)
    return got.get("Item") == item


def write(ports):
    east, west, ap = regional(ports)
    east.create_table(
        TableName=TABLE,
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    eventually("the table ACTIVE in us-east-1", lambda: active(east))
    for region in REGIONS[1:]:
        east.update_table(TableName=TABLE, ReplicaUpdates=[{"Create": {"RegionName": region}}])
        eventually(f"the table ACTIVE in us-east-1 after adding {region}", lambda: active(east))
    eventually("the replica ACTIVE in eu-west-1", lambda: active(west))
    eventually("the replica ACTIVE in ap-southeast-1", lambda: active(ap))
    west.put_item(TableName=TABLE, Item=ITEM)
    eventually("the item written in eu-west-1 read in us-east-1", lambda: holds(east, ITEM))
    eventually("the item written in eu-west-1 read in ap-southeast-1", lambda: holds(ap, ITEM))
    print("one box: an item written in eu-west-1 replicated to us-east-1 and ap-southeast-1")


def read(ports):
    for c, region in zip(regional(ports), REGIONS):
        eventually(f"the item read back in {region} after the restart", lambda: holds(c, ITEM))
    print("one box: the item read back in every region from the volume")


def edge(edge_port, ports):
    # Three clients with one URL, as AWS_ENDPOINT_URL gives them: the edge
    # hands each request to the region its signature names.
    through_edge = [client(edge_port, r) for r in REGIONS]
    own = regional(ports)
    for i, (c, region) in enumerate(zip(through_edge, REGIONS)):
        # Answered by the region the client signs for, not by any one.
        arn = c.describe_table(TableName=TABLE)["Table"]["TableArn"]
        if f":{region}:" not in arn:
            sys.exit(f"one box: the edge answered a {region} client with {arn}")
        item = {"id": {"S": f"through-the-edge-in-{region}"}, "v": {"N": str(i)}}
        c.put_item(TableName=TABLE, Item=item)
        eventually(f"the edge's write in {region} landing in {region}", lambda: holds(own[i], item))
        for j, other in enumerate(REGIONS):
            if j != i:
                eventually(
                    f"the edge's write in {region} replicated to {other}",
                    lambda: holds(own[j], item),
                )
    print("one box: through the edge, a write in each region reached the other two")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "serving":
        serving(float(args[0]), [int(p) for p in args[1:]])
    elif cmd == "write":
        write([int(p) for p in args])
    elif cmd == "read":
        read([int(p) for p in args])
    elif cmd == "edge":
        edge(int(args[0]), [int(p) for p in args[1:]])
    else:
        sys.exit(f"one_box.py: unknown command {cmd}")


if __name__ == "__main__":
    main()
