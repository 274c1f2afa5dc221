"""The options of `stocksaga dev`, with nothing but the standard library: `scripts/dev
--help` prints them at once, before any virtual environment exists."""

import argparse
from pathlib import Path

DESCRIPTION = (
    "Bring up the whole system on this machine (Postgres, Redis, Temporal with its Web UI, a worker, the "
    "API) with demo data. Without DATABASE_URL / REDIS_URL it starts embedded servers. The first run of "
    "scripts/dev installs .venv (about a minute)."
)


def add_dev_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument(
        "--data-dir", type=Path, help="where data lives across restarts (default: DATA_DIR or ./.stocksaga)"
    )
    parser.add_argument("--api-port", type=int, help="API port (default: API_PORT or 8000)")
    parser.add_argument("--temporal-port", type=int, help="Temporal frontend port (default: 7233)")
    parser.add_argument("--ui-port", type=int, help="Temporal Web UI port (default: TEMPORAL_UI_PORT or 8233)")
    parser.add_argument("--demo-skus", type=int, default=300, help="demo skus to load on first start (0: none)")
    return parser


if __name__ == "__main__":
    add_dev_arguments(argparse.ArgumentParser(prog="scripts/dev", description=DESCRIPTION)).parse_args()
