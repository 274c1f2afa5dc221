"""First-expiry-first-out choice over many lots of one sku at one location (issue 18's
target: 1,000 lots in under 10 ms).

    .venv/bin/python -m bench.fefo [--lots 1000] [--repeat 200]

Builds `--lots` lots (random expiries from already expired to two years out, a few without
expiry, spread over bins) and times `domain.lots.fefo` taking a third of their units, the
median and worst of `--repeat` runs. The ceiling, measured in the same run: sorting the same
rows by expiry alone, the least any FEFO choice must do. Pure Python, no database: the
query that reads the rows is timed with the pick it serves.
"""

import argparse
import random
import statistics
import time
from datetime import date, timedelta

from domain.lots import LotStock, fefo

TARGET_MS = 10.0
TODAY = date(2026, 12, 3)


def rows(count: int, rng: random.Random) -> list[LotStock]:
    return [
        LotStock(
            f"LOT-{n:05d}",
            None if rng.random() < 0.02 else TODAY + timedelta(days=rng.randint(-30, 730)),
            f"A-{rng.randint(1, 40):02d}-{rng.randint(1, 9):02d}",
            rng.randint(0, 50),
            rng.randint(1, 400),
        )
        for n in range(count)
    ]


def timed(fn, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lots", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    stock = rows(args.lots, random.Random(18))
    want = sum(s.free for s in stock) // 3
    choice = timed(lambda: fefo(stock, want, TODAY, min_shelf_life_days=14), args.repeat)
    floor = timed(lambda: sorted(stock, key=lambda s: s.expiry or date.max), args.repeat)
    median, worst = statistics.median(choice), max(choice)
    print(f"fefo over {args.lots:,} lots, taking {want:,} units: median {median:.2f} ms, worst {worst:.2f} ms")
    print(f"ceiling (sort by expiry only, same rows): median {statistics.median(floor):.2f} ms")
    print(f"target: < {TARGET_MS:.0f} ms -> {'met' if worst < TARGET_MS else 'NOT met'} (worst of {args.repeat})")


if __name__ == "__main__":
    main()
