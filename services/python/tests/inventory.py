"""A small shop for the worked example in docs/python.md: stock per SKU and
orders, in one DynamoDB table, written through the region the shop runs in.

Its invariant: **every unit stocked is either still in stock or sold once**,
`units_left(sku) + len(orders(sku)) == units stocked`. `buy` keeps it with a
transaction whose condition refuses a sale when no unit is left, which is
enough in one region. On a global table it is not: the condition is checked
in the region that takes the write only (DynamoDB developer guide, *Using
transactional APIs with global tables*), and two regions that cannot hear
each other can both sell the last unit; last writer wins then keeps one of
the two stock decrements and loses the other."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError


class Inventory:
    def __init__(self, table: Any) -> None:
        #: A boto3 resource Table, of the region this shop runs in.
        self.table = table

    def restock(self, sku: str, units: int) -> None:
        self.table.put_item(Item={"pk": f"stock#{sku}", "units": units})

    def buy(self, sku: str, order_id: str) -> bool:
        """Sells one unit: the stock goes down by one and the order is
        recorded, together, only if a unit is left. False when none is."""
        # The resource's own client: it takes plain values, as the Table does.
        client = self.table.meta.client
        try:
            client.transact_write_items(TransactItems=[
                {"Update": {
                    "TableName": self.table.name,
                    "Key": {"pk": f"stock#{sku}"},
                    "UpdateExpression": "SET units = units - :one",
                    "ConditionExpression": "units >= :one",
                    "ExpressionAttributeValues": {":one": 1},
                }},
                {"Put": {
                    "TableName": self.table.name,
                    "Item": {"pk": f"order#{order_id}", "sku": sku},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }},
            ])
        except ClientError as e:
            if e.response["Error"]["Code"] == "TransactionCanceledException":
                return False
            raise
        return True

    def units_left(self, sku: str) -> int:
        item = self.table.get_item(Key={"pk": f"stock#{sku}"}, ConsistentRead=True)["Item"]
        return int(item["units"])

    def orders(self, sku: str) -> list[str]:
        items = self.table.scan(ConsistentRead=True)["Items"]
        return sorted(str(i["pk"]) for i in items
                      if str(i["pk"]).startswith("order#") and i.get("sku") == sku)
