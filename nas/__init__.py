"""handkp-search: architecture search for small 2D hand-keypoint models, ranked by
GFLOPs x MParams x exp(mean pixel error).

The pipeline, one subpackage per stage, each importing only the ones before it
(`tests/test_layers.py`): `data` (records, formats, cache, synthetic hands), `keypoints` (codec,
losses, decoding, metrics) and `model` (arch, backbones, head, cost) -> `training` (recipe, the
shared loop, trainer, evaluation) -> `search` (space, sampling, objective; `proxy/`; `workers/`)
-> `report` (trials frame, Pareto, figures, page) -> `deploy` (pick, fidelity, retrain, export,
predict); `cli` turns it into `handkp-search`. The names below are the public API; they load on
first use (`nas.lazy`), so `import nas` is cheap.
"""
from __future__ import annotations

from nas.lazy import exports

__all__, __getattr__, __dir__ = exports(__name__, {
    "errors": ["NasError", "ConfigError", "DataError", "StudyError", "TrainingDiverged"],
    "data": ["DataSpec", "KeypointDataset", "load_for_space", "load_splits"],
    "model": ["ArchConfig", "build_model", "count_cost", "score"],
    "training": ["TrainConfig", "train", "evaluate"],
    "training.recipe": ["full_recipe"],
    "search": ["SearchSpace", "load_space", "open_study", "load_existing_study", "run_study", "evaluate_candidate"],
    "report": ["trials_frame", "write_report"],
    "deploy": ["ArchSpec", "export_onnx", "predict_folder"],
    "deploy.retrain": ["retrain"],
})
