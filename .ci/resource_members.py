#!/usr/bin/env python3
"""Every request member of DynamoDB and DynamoDB Streams that names a
resource, read from botocore's service models: written to
services/dynamo/src/request/model-members.txt, which the endpoint's tests
hold its request parser to (services/dynamo/src/request/members.rs).

A member names a resource when its shape is one of RESOURCE_SHAPES: a table
(by name or ARN), an index, a stream, a backup, an export, an import, any
resource ARN, a PartiQL statement (whose FROM names a table) or a shard
iterator (a position in a stream). Each line is `service operation path
shape`; a path is member names joined by `.`, `[]` after a list, `{key}`
for a map's keys. An operation that names no resource has one line with
path `-`, so the file lists every operation.

  python3 .ci/resource_members.py          rewrite the file
  python3 .ci/resource_members.py --check  exit 1 when it differs from
                                           the model; 2 when botocore is
                                           not installed
"""

import gzip
import json
import os
import sys

RESOURCE_SHAPES = {
    "TableArn",
    "TableName",
    "IndexName",
    "BackupArn",
    "ExportArn",
    "ImportArn",
    "ResourceArnString",
    "StreamArn",
    "PartiQLStatement",
    "ShardIterator",
}
SERVICES = ["dynamodb", "dynamodbstreams"]
OUT = os.path.join(
    os.path.dirname(os.path.abspath(__file__)),
    "..",
    "services",
    "dynamo",
    "src",
    "request",
    "model-members.txt",
)


def model(data, service):
    base = os.path.join(data, service, "2012-08-10", "service-2.json")
    if os.path.exists(base):
        with open(base) as f:
            return json.load(f)
    with gzip.open(base + ".gz") as f:
        return json.load(f)


def members(shapes, shape, path, seen, out):
    """Appends (path, shape) for every resource-naming member below `shape`."""
    s = shapes[shape]
    if s["type"] == "structure":
        for name, m in s.get("members", {}).items():
            p = f"{path}.{name}" if path else name
            if m["shape"] in RESOURCE_SHAPES:
                out.append((p, m["shape"]))
            if m["shape"] not in seen:
                members(shapes, m["shape"], p, seen | {m["shape"]}, out)
    elif s["type"] == "list":
        members(shapes, s["member"]["shape"], path + "[]", seen, out)
    elif s["type"] == "map":
        if s["key"]["shape"] in RESOURCE_SHAPES:
            out.append((path + "{key}", s["key"]["shape"]))
        members(shapes, s["value"]["shape"], path + "{}", seen, out)


def lines(data):
    out = []
    for service in SERVICES:
        m = model(data, service)
        for op in sorted(m["operations"]):
            found = []
            shape = m["operations"][op].get("input", {}).get("shape")
            if shape:
                members(m["shapes"], shape, "", {shape}, found)
            if not found:
                out.append(f"{service} {op} - -")
            out.extend(f"{service} {op} {p} {s}" for p, s in found)
    return out


def main():
    try:
        import botocore
    except ImportError:
        print("botocore is not installed: pip install boto3", file=sys.stderr)
        return 2
    data = os.path.join(os.path.dirname(botocore.__file__), "data")
    text = "".join(line + "\n" for line in lines(data))
    if "--check" in sys.argv[1:]:
        with open(OUT) as f:
            held = f.read()
        if held != text:
            print(
                f"{OUT} differs from botocore {botocore.__version__}'s models: "
                "run python3 .ci/resource_members.py and cover what changed "
                "in services/dynamo/src/request/members.rs",
                file=sys.stderr,
            )
            return 1
        print(f"resource members match botocore {botocore.__version__}")
        return 0
    with open(OUT, "w") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
