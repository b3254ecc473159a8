"""ONNX export of a trained model (best-validation weights) with a dynamic batch axis, and the
onnxruntime cross-check against torch.

The ONNX graph takes `images`: float32 N x 3 x S x S RGB in [0, 1] (ImageNet normalisation is
inside the model) and returns `heatmaps`: N x 21 x S/4 x S/4. How to decode them (soft-argmax for
dsnt/integral models, argmax for mse models) is stored in the file's metadata.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from nas.errors import NasError
from nas.io import write_bytes_atomic
from nas.keypoints.decoding import decode, decoder_name
from nas.model.network import HEATMAP_STRIDE
from nas.training.checkpoint import load_trained_model
from nas.training.device import to_memory_format
from nas.training.evaluation import predict_keypoints

__all__ = ["ExportError", "OnnxCheck", "export_onnx", "check_onnx", "onnxruntime_available"]

OPSET = 18


class ExportError(NasError):
    """The ONNX export failed or its output disagrees with torch."""


@dataclass(frozen=True)
class OnnxCheck:
    """onnxruntime vs torch on one random batch; `ok` when both differences are within tolerance."""

    path: Path
    batch: int
    max_abs_heatmap_diff: float
    max_keypoint_diff_px: float
    heatmap_tolerance: float = 1e-4
    keypoint_tolerance_px: float = 1e-2

    @property
    def ok(self) -> bool:
        return (self.max_abs_heatmap_diff <= self.heatmap_tolerance
                and self.max_keypoint_diff_px <= self.keypoint_tolerance_px)

    def raise_if_failed(self) -> OnnxCheck:
        """ExportError when the exported model disagrees with torch (a file not to deploy)."""
        if not self.ok:
            raise ExportError(
                f"{self.path}: onnxruntime output differs from torch beyond tolerance (max |heatmap diff| "
                f"{self.max_abs_heatmap_diff:.2e} vs {self.heatmap_tolerance:g}, max keypoint diff "
                f"{self.max_keypoint_diff_px:.2e} px vs {self.keypoint_tolerance_px:g})")
        return self


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def export_onnx(checkpoint: str | Path, out: str | Path) -> tuple[Path, nn.Module, dict[str, str]]:
    """Write the checkpoint's best model as ONNX (atomically); returns (path, torch model, metadata)."""
    try:
        import onnx
    except ImportError:
        raise ExportError("ONNX export needs the optional extra: pip install 'handkp-search[onnx]'") from None
    model, ckpt = load_trained_model(checkpoint)
    # whatever layout the run trained in, export a contiguous (NCHW) model: ONNX tensors have no memory
    # format (a shape and row-major data; each runtime picks its own layout), torch.export traces the
    # same ops either way but records strides, so the trace and the onnxruntime check below then
    # describe exactly the NCHW input the file's users feed
    to_memory_format(model, "contiguous")
    size = ckpt.arch.input_size
    meta = {
        "handkp.arch": ckpt.arch.to_json(), "handkp.input": f"images float32 Nx3x{size}x{size} RGB in [0,1]",
        "handkp.decoder": decoder_name(ckpt.recipe.loss),
        "handkp.heatmap_stride": str(HEATMAP_STRIDE), "handkp.loss": ckpt.recipe.loss,
    }
    out = Path(out)
    try:
        example = torch.rand(2, 3, size, size)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's own deprecation/notice chatter
            program = torch.onnx.export(
                model, (example,), dynamo=True, input_names=["images"], output_names=["heatmaps"],
                dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=4096)},), opset_version=OPSET,
                verbose=False,
            )
        proto = program.model_proto
        for k, v in meta.items():
            proto.metadata_props.add(key=k, value=v)
        onnx.checker.check_model(proto)
        data = proto.SerializeToString()
    except Exception as exc:
        raise ExportError(f"{out}: ONNX export failed ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
    write_bytes_atomic(out, data)
    return out, model, meta


def check_onnx(onnx_path: str | Path, model: nn.Module, input_size: int, loss: str, batch: int = 3,
               seed: int = 0) -> OnnxCheck:
    """Run the ONNX file in onnxruntime and torch on the same random batch (batch != the export's 2,
    so the dynamic axis is exercised); compare heatmaps and decoded keypoints. The result decides:
    `check_onnx(...).raise_if_failed()` raises ExportError when they disagree."""
    import onnxruntime as ort

    gen = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (batch, 3, input_size, input_size), generator=gen, dtype=torch.uint8)
    x = images.float().div(255.0)
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    heat_ort = torch.from_numpy(sess.run(["heatmaps"], {"images": x.numpy()})[0])
    model.eval()
    with torch.no_grad():
        heat_torch = model(x)
        kp_torch = predict_keypoints(model, images, loss)
    kp_ort = decode(heat_ort, loss, HEATMAP_STRIDE)
    return OnnxCheck(
        Path(onnx_path), batch, float((heat_ort - heat_torch).abs().max()), float((kp_ort - kp_torch).abs().max()),
    )
