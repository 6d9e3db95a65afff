"""The conflict log as objects (docs/conflicts.md): each record says which
write lost, to which, and why, as `meridian conflicts` prints it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from .errors import MeridianError

_VERSION = re.compile(r"^(\d+)\.(\d{6})\+(\d+)@(.+)$")
_DESER = TypeDeserializer()


@dataclass(frozen=True, order=True)
class Version:
    """A write's hybrid-logical-clock version, `seconds.micros+logical@origin`.
    Versions order as last-writer-wins orders them: physical time, then
    the logical counter, then the origin region's name."""

    micros: int
    logical: int
    origin: str

    @classmethod
    def parse(cls, text: str) -> Version:
        m = _VERSION.match(text)
        if not m:
            raise MeridianError(f"version: {text!r} is not seconds.micros+logical@origin")
        return cls(int(m[1]) * 1_000_000 + int(m[2]), int(m[3]), m[4])

    def __str__(self) -> str:
        return f"{self.micros // 1_000_000}.{self.micros % 1_000_000:06d}+{self.logical}@{self.origin}"


def plain(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB JSON item (`{"n": {"N": "1"}}`) as boto3's resource API
    gives items (`{"n": Decimal(1)}`)."""
    return {k: _DESER.deserialize(v) for k, v in item.items()}


@dataclass(frozen=True)
class Conflict:
    """One record of a region's conflict log."""

    table: str
    #: The version that won and the one that lost.
    winner: Version
    loser: Version
    #: Why the winner won: `later physical time`, `same physical time,
    #: higher logical counter` or `same timestamp, origin region breaks the tie`.
    why: str
    #: The region that recorded it (where the two writes met).
    detected_by: str
    #: The items, as boto3's resource API gives them; None for a delete.
    winner_item: dict[str, Any] | None
    lost_item: dict[str, Any] | None
    #: When it was recorded (µs since the epoch), when the source says.
    detected_at_micros: int | None = None

    @property
    def lost_update(self) -> bool:
        """The loser was a write (not a delete) that the winner overwrote
        without having seen it."""
        return self.lost_item is not None

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> Conflict:
        def image(v: Any) -> dict[str, Any] | None:
            return plain(v) if isinstance(v, dict) else None

        at = row.get("DetectedAtMicros")
        return cls(
            table=str(row["Table"]),
            winner=Version.parse(str(row["Winner"])),
            loser=Version.parse(str(row["Loser"])),
            why=str(row["Why"]),
            detected_by=str(row["DetectedBy"]),
            winner_item=image(row.get("WinnerItem")),
            lost_item=image(row.get("LostItem")),
            detected_at_micros=int(at) if at is not None else None,
        )

    def key_matches(self, key: dict[str, Any]) -> bool:
        """Whether this conflict is on the item with `key` (plain values),
        judged from whichever image is not a delete."""
        item = self.winner_item if self.winner_item is not None else self.lost_item
        if item is None:
            return False
        return all(_same(item.get(k), v) for k, v in key.items())


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, Decimal) and isinstance(b, (int, float, Decimal)) and not isinstance(b, bool):
        return a == Decimal(str(b))
    return bool(a == b)
