"""Deploying a picked architecture: its architecture file, the full retrain, ONNX export and
prediction on image folders. Names load on first use (`nas.lazy`), so reading an architecture file does not
import the trainer or onnx. (`retrain` itself is `nas.deploy.retrain.retrain`: the name is its
module's, which the import system sets on this package once the module is loaded.)"""
from __future__ import annotations

from nas.lazy import exports

__all__, __getattr__, __dir__ = exports(__name__, {
    "pick": ["Constraints", "ranked_trials", "spec_for_trial"],
    "fidelity": ["FidelityResult", "run_fidelity", "select_trials"],
    "spec": ["ArchSpec"],
    "retrain": ["RetrainHooks", "RetrainResult", "evaluate_test", "write_outputs"],
    "export": ["ExportError", "OnnxCheck", "check_onnx", "export_onnx", "onnxruntime_available"],
    "predict": ["Prediction", "PredictResult", "list_images", "predict_folder", "write_csv"],
    "pictures": ["curves_html", "keypoint_grid", "write_png"],
})
