"""handkp-search: architecture search for small 2D hand-keypoint models, ranked by
GFLOPs x MParams x exp(mean pixel error).

The pipeline, one subpackage per stage: `data` (records, formats, cache, synthetic hands) ->
`search` (space, sampling, objective, runner, storage) -> `model` (arch, backbones, head, cost) ->
`keypoints` (codec, losses, decoding, metrics) + `training` (recipe, trainer, evaluation) ->
`report` (trials frame, Pareto, figures, page) -> `search.pick` -> `deploy` (retrain, export,
predict) ; `cli` turns it into `handkp-search`. The names below are the public API; they load on
first use, so `import nas` is cheap.
"""
from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    # errors
    "NasError", "ConfigError", "DataError", "StudyError", "TrainingDiverged",
    # data
    "DataSpec", "KeypointDataset", "load_for_space", "load_splits",
    # model
    "ArchConfig", "build_model", "count_cost", "score",
    # training
    "TrainConfig", "train", "evaluate", "full_recipe",
    # search
    "SearchSpace", "load_space", "open_study", "load_existing_study", "run_study", "evaluate_candidate",
    # report
    "trials_frame", "write_report",
    # deploy
    "ArchSpec", "retrain", "export_onnx", "predict_folder",
]

_HOME = {
    "NasError": "errors", "ConfigError": "errors", "DataError": "errors", "StudyError": "errors",
    "TrainingDiverged": "errors",
    "DataSpec": "data", "KeypointDataset": "data", "load_for_space": "data", "load_splits": "data",
    "ArchConfig": "model", "build_model": "model", "count_cost": "model", "score": "model",
    "TrainConfig": "training", "train": "training", "evaluate": "training", "full_recipe": "training.recipe",
    "SearchSpace": "search", "load_space": "search", "open_study": "search", "load_existing_study": "search",
    "run_study": "search", "evaluate_candidate": "search",
    "trials_frame": "report", "write_report": "report",
    "ArchSpec": "deploy", "retrain": "deploy.retrain", "export_onnx": "deploy", "predict_folder": "deploy",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
