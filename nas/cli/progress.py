"""Rich progress displays for long work (rendering, training epochs). The library only calls
plain callbacks; these classes turn them into bars."""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

__all__ = ["render_progress", "TrainProgress", "make_progress"]


def make_progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        console=console,
        transient=False,
    )


@contextlib.contextmanager
def render_progress(console: Console, label: str, total: int) -> Iterator[Callable[..., None]]:
    """Yields advance(done, total=None): `done` items finished so far (a cumulative count); a given
    `total` replaces the expected one (a dataset's size is known only once it is read)."""
    progress = make_progress(console)
    task = progress.add_task(label, total=total, info="")
    state = {"total": total}

    def advance(done: int, new_total: int | None = None) -> None:
        if new_total is not None and new_total != state["total"]:
            state["total"] = new_total
            progress.update(task, total=new_total)
        progress.update(task, completed=min(state["total"], done))

    with progress:
        yield advance
        progress.update(task, completed=state["total"])


class TrainProgress:
    """Two bars: epochs (with the last validation error) and the current epoch's steps."""

    def __init__(self, console: Console, epochs: int, progress: Progress | None = None, label: str = "epochs",
                 completed: int = 0):
        self._own = progress is None
        self.progress = progress or make_progress(console)
        self.epochs_task = self.progress.add_task(label, total=epochs, completed=completed, info="")
        self.steps_task = self.progress.add_task("  steps", total=1, info="")

    def __enter__(self) -> TrainProgress:
        if self._own:
            self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.remove_task(self.steps_task)
        if self._own:
            self.progress.__exit__(*exc)  # a standalone run keeps its epoch bar on screen
        else:
            self.progress.remove_task(self.epochs_task)

    def step(self, done: int, total: int) -> None:
        self.progress.update(self.steps_task, completed=done, total=total)

    def epoch(self, stats) -> None:
        info = (f"val {stats.px_error:.2f} px  loss {stats.train_loss:.4f}  lr {stats.lr:.1e}  "
                f"{stats.images_per_s:.0f} img/s")
        self.progress.update(self.epochs_task, advance=1, info=info)
