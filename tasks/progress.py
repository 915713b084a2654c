"""Progress bars for long stages, on a terminal only: under Prefect or `> log` they would be log noise.

A stage opens one bar for its whole input (`bar`), and partitioned work moves it as each partition
finishes, so a user at `hanflow run` or `dvc repro` sees rows per second and time left.
Not a code dependency of any DVC stage on purpose: a bar changes no output, so editing it retrains nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence

MIN_ROWS = 20_000  # smaller jobs finish within a few seconds: a bar would only flash


class Silent:
    """What `bar` gives when no bar is shown: same calls, nothing drawn."""

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> "Silent":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def on_terminal() -> bool:
    return sys.stderr.isatty()


def bar(total: int, unit: str, desc: str, enabled: bool = True, min_total: int = MIN_ROWS):
    """A tqdm bar of `total` units (a context manager with update/close), or a Silent one off a terminal."""
    if not (enabled and total >= min_total and on_terminal()):
        return Silent()
    from tqdm.auto import tqdm

    return tqdm(total=total, unit=unit, desc=desc, leave=False, dynamic_ncols=True, unit_scale=True)


def progress(items: Sequence, unit: str, enabled: bool = True) -> Iterable:
    """tqdm over `items` on a terminal; the items themselves otherwise."""
    if not (enabled and on_terminal()):
        return items
    from tqdm.auto import tqdm

    return tqdm(items, unit=unit, leave=False, dynamic_ncols=True)
