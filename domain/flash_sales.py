"""Flash-sale rules with no I/O: how sale stock splits into pools, which pool a user draws
from and where they fall back, the lottery draw, and how many purchase windows a round
hands out."""

import math
import random
import zlib
from collections.abc import Iterable
from enum import StrEnum


class SaleStatus(StrEnum):
    SCHEDULED = "scheduled"
    OPEN = "open"
    DRAWN = "drawn"
    ENDED = "ended"
    CANCELLED = "cancelled"


class SaleMode(StrEnum):
    FIRST_COME = "first_come"
    LOTTERY = "lottery"


def split(quantity: int, pools: int) -> list[int]:
    """`quantity` units over `pools` pools as evenly as whole units go (the first pools get
    the odd units)."""
    if pools < 1:
        raise ValueError("a sale needs at least one pool")
    base, odd = divmod(max(quantity, 0), pools)
    return [base + (i < odd) for i in range(pools)]


def home_pool(user_id: str, pools: int) -> int:
    """The pool a user buys from first: a stable hash of the user id, so a user always lands
    in the same pool and users spread evenly over the pools."""
    return zlib.crc32(user_id.encode()) % pools


def fallback_order(home: int, pools: int) -> list[int]:
    """Home first, then its neighbours outwards, alternating sides: 3 of 10 -> 3, 4, 2, 5, 1, ..."""
    order = [home]
    for step in range(1, pools):
        for pool in ((home + step) % pools, (home - step) % pools):
            if pool not in order:
                order.append(pool)
    return order


def draw(entrants: Iterable[str], rng: random.Random) -> list[str]:
    """Rank the entrants by lot. They are put in a canonical order first (sorted ids), so
    when or in which order anyone entered cannot matter; then shuffled uniformly."""
    ranked = sorted(set(entrants))
    rng.shuffle(ranked)
    return ranked


def windows_to_grant(units_left: int, per_user_limit: int, entrants_waiting: int) -> int:
    """How many of the next-ranked entrants get a purchase window this round: enough for
    every unit left if each of them buys their limit, and no more than are waiting."""
    if units_left <= 0 or per_user_limit <= 0:
        return 0
    return min(math.ceil(units_left / per_user_limit), entrants_waiting)
