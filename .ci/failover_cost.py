#!/usr/bin/env python3
"""What an endpoint in front of a region costs a request, the failover
endpoint's or the edge's (docs/performance.md): N sequential PutItem calls,
each over one kept-alive connection, through the endpoint and straight to
the region it forwards to, in alternating
blocks of 100 so both see the same machine. Prints each path's mean, p50
and p99 in ms, and the difference of the medians.

Usage: python3 .ci/failover_cost.py ENDPOINT_HOST:PORT REGION_HOST:PORT TABLE [N]
TABLE must exist with a string partition key `id`.
"""

import http.client
import json
import statistics
import sys
import time


def put(conn, table, key):
    body = json.dumps({"TableName": table, "Item": {"id": {"S": key}, "v": {"N": "1"}}})
    conn.request("POST", "/", body, {
        "x-amz-target": "DynamoDB_20120810.PutItem",
        "content-type": "application/x-amz-json-1.0",
        "authorization": "AWS4-HMAC-SHA256 Credential=k/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
    })
    r = conn.getresponse()
    r.read()
    if r.status != 200:
        sys.exit(f"PutItem answered {r.status}")


def main():
    endpoint, direct, table = sys.argv[1:4]
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 2000
    paths = {"through the endpoint": endpoint, "region directly": direct}
    conns = {name: http.client.HTTPConnection(*addr.rsplit(":", 1)) for name, addr in paths.items()}
    took = {name: [] for name in paths}
    for block in range(0, n, 100):
        for name, conn in conns.items():
            for i in range(block, min(block + 100, n)):
                t = time.perf_counter()
                put(conn, table, f"cost-{name[0]}-{i}")
                took[name].append((time.perf_counter() - t) * 1e3)
    for name, ms in took.items():
        ms.sort()
        print(f"{name:<20} {len(ms)} PutItem: mean {statistics.mean(ms):.3f} ms, "
              f"p50 {ms[len(ms) // 2]:.3f} ms, p99 {ms[int(len(ms) * 0.99)]:.3f} ms")
    medians = [sorted(m)[len(m) // 2] for m in took.values()]
    print(f"the endpoint adds {medians[0] - medians[1]:.3f} ms at the median")


if __name__ == "__main__":
    main()
