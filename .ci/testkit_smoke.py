"""The Python test library (docs/python.md) attached to a running cluster,
as a user's suite attaches with --meridian-cluster: a global table made
through it, a partition that keeps a write from one region while the third
gets it, the write arriving once the block ends, and the conflict of two
writes made on either side of the cut in the conflict log.

Usage: python testkit_smoke.py <cluster file> <dashboard URL> <meridian binary>
(run from the directory `meridian up` was started in).
"""
import sys
import uuid

from meridian_testkit import Cluster

config, dashboard, binary = sys.argv[1:4]
c = Cluster.attach(config, dashboard=dashboard, binary=binary)
assert c.control.admin_token, "the admin token was not read from the cluster file"
a, b, third = c.regions[:3]
table = f"testkit-smoke-{uuid.uuid4().hex[:8]}"
c.create_global_table(table)
c.wait_converged(timeout=30)
key = {"pk": "k"}
with c.partition(a, b):
    c.resource(a).Table(table).put_item(Item={"pk": "k", "by": a})
    c.wait_replicated(table, key, regions=[third], timeout=10)
    # At once: this cluster's periodic repair (every 30 s) may carry the
    # write round through the third region (docs/python.md, *Limits*).
    assert "Item" not in c.resource(b).Table(table).get_item(Key=key), "the partition let the write through"
    c.resource(b).Table(table).put_item(Item={"pk": "k", "by": b})
c.wait_converged([table], timeout=30)
conflicts = [x for x in c.conflicts(table=table) if x.key_matches(key)]
assert conflicts and {conflicts[0].winner.origin, conflicts[0].loser.origin} == {a, b}, conflicts
print(f"testkit smoke: {c.name} attached, partition {a} ⇄ {b} held and healed, "
      f"{len(conflicts)} conflict records of the two writes")
