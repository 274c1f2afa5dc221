"""Progress of long commands on standard error."""

import sys
import time


def progress(label: str):
    """A bar on a terminal; in a log, only the line that says it is done."""
    started = time.monotonic()
    live = sys.stderr.isatty()

    def show(done: int, total: int) -> None:
        if done == total or (live and done % max(total // 50, 1) == 0):
            bar = "#" * int(30 * done / total)
            print(
                f"\r{label}: [{bar:<30}] {done}/{total} {time.monotonic() - started:5.1f}s",
                end="\n" if done >= total else "",
                file=sys.stderr,
                flush=True,
            )

    return show
