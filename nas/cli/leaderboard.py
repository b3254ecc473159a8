"""The terminal leaderboard: the report's ranked trials as a rich table."""
from __future__ import annotations

import pandas as pd
from rich.table import Table

from nas.report import LEADERBOARD_COLUMNS, leaderboard
from nas.report.frame import fmt

__all__ = ["leaderboard_table"]


_SHORT_HEADERS = {
    "rank": "#", "trial": "trial", "baseline": "baseline", "backbone": "backbone", "backbone_width": "bb w",
    "head_width": "head w", "head_depth": "depth", "aug_multiplier": "aug", "gflops": "GFLOPs",
    "mparams": "MParams", "px_error": "px", "score": "score", "worker": "worker",
}
_SHORT_NAMES = (("seed_", ""), ("mobilenetv3_small", "mnv3s"), ("mobilenetv2", "mnv2"))


def _short(text: str) -> str:
    for a, b in _SHORT_NAMES:
        text = text.replace(a, b)
    return text


def leaderboard_table(df: pd.DataFrame, top: int | None = 10) -> Table:
    """The leaderboard as a rich table for the CLI (short headers and names keep it narrow)."""
    board = leaderboard(df, top)
    table = Table(title=f"top {len(board)} trials by score (lower is better)")
    specs = {"backbone_width": ".2f", "head_width": ".3f", "gflops": ".4f", "mparams": ".3f", "px_error": ".2f",
             "score": ".4g"}
    for col in LEADERBOARD_COLUMNS:
        left = col in ("baseline", "backbone", "worker")
        table.add_column(_SHORT_HEADERS.get(col, col), justify="left" if left else "right", no_wrap=True)
    for row in board.itertuples(index=False):
        cells = [fmt(getattr(row, c), specs.get(c, "")) for c in LEADERBOARD_COLUMNS]
        table.add_row(*(_short(c) for c in cells))
    return table
