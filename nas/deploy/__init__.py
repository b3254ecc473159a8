"""Deploying a picked architecture: its architecture file, the full retrain, ONNX export and
prediction on image folders. Names load on first use, so reading an architecture file does not
import the trainer or onnx. (`retrain` itself is `nas.deploy.retrain.retrain`: the name is its
module's, which the import system sets on this package once the module is loaded.)"""
from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "ArchSpec", "ExportError", "OnnxCheck", "Prediction", "PredictResult", "RetrainHooks", "RetrainResult",
    "check_onnx", "curves_html", "evaluate_test", "export_onnx", "keypoint_grid", "list_images",
    "onnxruntime_available", "predict_folder", "write_csv", "write_outputs", "write_png",
]

_HOME = {
    "ArchSpec": "spec",
    "RetrainHooks": "retrain", "RetrainResult": "retrain", "evaluate_test": "retrain",
    "write_outputs": "retrain",
    "ExportError": "export", "OnnxCheck": "export", "check_onnx": "export", "export_onnx": "export",
    "onnxruntime_available": "export",
    "Prediction": "predict", "PredictResult": "predict", "list_images": "predict", "predict_folder": "predict",
    "write_csv": "predict",
    "curves_html": "pictures", "keypoint_grid": "pictures", "write_png": "pictures",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
