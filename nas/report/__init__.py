"""Study report: the trials frame, its ranking and Pareto fronts, and the offline HTML page + CSV."""
from __future__ import annotations

from nas.report.frame import COLUMNS, plain, trials_frame
from nas.report.importance import param_importances
from nas.report.page import write_report
from nas.report.pareto import iso_score_lines, pareto_mask, pareto_mask_3d
from nas.report.ranking import LEADERBOARD_COLUMNS, best_so_far, leaderboard, summary

__all__ = [
    "COLUMNS",
    "LEADERBOARD_COLUMNS",
    "best_so_far",
    "iso_score_lines",
    "leaderboard",
    "param_importances",
    "pareto_mask",
    "pareto_mask_3d",
    "plain",
    "summary",
    "trials_frame",
    "write_report",
]
