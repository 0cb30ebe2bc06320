"""Progress bars for long work (rich, on stderr; quiet when stderr is not a terminal)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["progress", "progress_bar", "step_bar"]

T = TypeVar("T")


@contextlib.contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[Callable[[], None]]:
    """A bar titled ``description``; call the yielded function once per finished item."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task(escape(description), total=total)
        yield lambda: bar.advance(task)


@contextlib.contextmanager
def step_bar(
    description: str,
    total: int,
    *,
    completed: int = 0,
    console: Console | None = None,
    enabled: bool = True,
) -> Iterator[Callable[..., Any]]:
    """A bar over a training loop's ``total`` steps that may start at ``completed`` (a resumed
    run); the yielded ``update(step, description=None)`` moves it to ``step`` and, if given,
    retitles it (e.g. with the current loss)."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    console = console or Console(stderr=True)
    with Progress(*columns, console=console, disable=not enabled) as bar:
        task = bar.add_task(description, total=total, completed=completed)

        def update(step: int, description: str | None = None) -> None:
            if description is None:
                bar.update(task, completed=step)
            else:
                bar.update(task, completed=step, description=description)

        yield update


def progress(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate over ``items`` with a progress bar titled ``description``."""
    if total is None:
        try:
            total = len(items)  # type: ignore[arg-type]
        except TypeError:
            total = None
    with progress_bar(description, total) as advance:
        for item in items:
            yield item
            advance()
