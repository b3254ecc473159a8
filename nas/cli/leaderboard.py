"""The leaderboard: the report's ranked trials as a rich table on a terminal, and as whole plain
columns where the output is a pipe or a log (never cut at a console width)."""
from __future__ import annotations

import pandas as pd
from rich.table import Table

from nas.report import LEADERBOARD_COLUMNS, leaderboard
from nas.report.frame import fmt

__all__ = ["leaderboard_table", "leaderboard_text", "show_leaderboard"]


_SHORT_HEADERS = {
    "rank": "#", "trial": "trial", "baseline": "baseline", "backbone": "backbone", "backbone_width": "bb w",
    "head_width": "head w", "head_depth": "depth", "aug_multiplier": "aug", "gflops": "GFLOPs",
    "mparams": "MParams", "px_error": "px", "score": "score", "worker": "worker",
}
def _short(text: str) -> str:
    """Baseline and backbone names shortened: `seed_` dropped, each backbone's registered short name."""
    from nas.model.backbones import BACKBONES

    text = text.replace("seed_", "")
    for entry in sorted(BACKBONES.values(), key=lambda b: -len(b.name)):  # longest first: no prefix clashes
        text = text.replace(entry.name, entry.short)
    return text


_SPECS = {"backbone_width": ".2f", "head_width": ".3f", "gflops": ".4f", "mparams": ".3f", "px_error": ".2f",
          "score": ".4g"}
_LEFT = ("baseline", "backbone", "worker")


def _cells(board: pd.DataFrame) -> list[list[str]]:
    return [[_short(fmt(getattr(row, c), _SPECS.get(c, ""))) for c in LEADERBOARD_COLUMNS]
            for row in board.itertuples(index=False)]


def _title(board: pd.DataFrame) -> str:
    return f"top {len(board)} trials by score (lower is better)"


def leaderboard_table(df: pd.DataFrame, top: int | None = 10) -> Table:
    """The leaderboard as a rich table for a terminal (short headers and names keep it narrow)."""
    board = leaderboard(df, top)
    table = Table(title=_title(board))
    for col in LEADERBOARD_COLUMNS:
        table.add_column(_SHORT_HEADERS.get(col, col), justify="left" if col in _LEFT else "right", no_wrap=True)
    for cells in _cells(board):
        table.add_row(*cells)
    return table


def leaderboard_text(df: pd.DataFrame, top: int | None = 10) -> str:
    """The same leaderboard as plain space-separated columns, every column whole, for pipes and logs."""
    board = leaderboard(df, top)
    rows = [[_SHORT_HEADERS.get(c, c) for c in LEADERBOARD_COLUMNS], *_cells(board)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(LEADERBOARD_COLUMNS))]
    lines = ["  ".join(cell.ljust(w) if col in _LEFT else cell.rjust(w)
                       for cell, w, col in zip(r, widths, LEADERBOARD_COLUMNS)).rstrip() for r in rows]
    return "\n".join([_title(board), *lines])


def show_leaderboard(console, df: pd.DataFrame, top: int | None = 10) -> None:
    """The leaderboard on `console`: a table on a terminal, whole plain columns otherwise."""
    if console.is_terminal:
        console.print(leaderboard_table(df, top))
    else:
        print(leaderboard_text(df, top), flush=True)
