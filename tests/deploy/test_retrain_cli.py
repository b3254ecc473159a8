"""From a study to a deployable model through the real CLI: pick -> retrain -> export -> onnxruntime
check -> predict, the kill-and-resume of a retrain, and the proxy-fidelity command."""
from __future__ import annotations

import csv
import json
import re
import signal
import subprocess
import time

import cv2
import numpy as np
import optuna
import pytest
import torch
import yaml
from conftest import TINY_SPACE, cli

TINY_DATA = ["--train-images", "64", "--val-images", "16", "--test-images", "16", "--device", "cpu"]


def run(args, env, cwd, timeout=900):
    return subprocess.run(cli(*args), env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory, synth_cache):
    """A real tiny study (3 finished trials) made by the study command, shared by this module."""
    import os

    from conftest import ROOT

    tmp = tmp_path_factory.mktemp("retrain")
    env = {**os.environ, "HANDKP_CACHE": str(synth_cache), "PYTHONPATH": str(ROOT)}
    (tmp / "tiny.yaml").write_text(TINY_SPACE)
    storage = f"sqlite:///{tmp / 's.db'}"
    r = run(["study", "--space", "tiny.yaml", "--trials", "3", "--storage", storage, "--device", "cpu",
             "--study-name", "tiny"], env, tmp)
    assert r.returncode == 0, r.stderr
    return tmp, storage, env


def _scored(storage):
    study = optuna.load_study(study_name="tiny", storage=storage)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    return study, sorted(done, key=lambda t: (t.user_attrs["score"], t.number))


@pytest.mark.slow  # make test-all; the suite stays under 6 minutes
def test_pick_by_rank_trial_and_constraints(study_dir):
    tmp, storage, env = study_dir
    study, ranked = _scored(storage)
    r = run(["pick", "--study-name", "tiny", "--storage", storage, "-o", "best.yaml"], env, tmp)
    assert r.returncode == 0, r.stderr
    spec = yaml.safe_load((tmp / "best.yaml").read_text())
    best = ranked[0]
    assert spec["source"]["trial"] == best.number
    assert spec["arch"] == best.user_attrs["arch"]
    # the full recipe (its lr chosen by bench/lr_screen.py) with the trial's augmentation multiplier
    from nas.training.recipe import FULL_EPOCHS, FULL_LR, FULL_LR_MIN

    assert (spec["recipe"]["lr"], spec["recipe"]["lr_min"], spec["recipe"]["epochs"]) == (FULL_LR, FULL_LR_MIN,
                                                                                          FULL_EPOCHS)
    assert spec["recipe"]["aug_multiplier"] == best.user_attrs["recipe"]["aug_multiplier"]
    assert "backbone_width" in r.stdout and "proxy score" in r.stdout  # printed as a table

    last = ranked[-1]
    r = run(["pick", "--study-name", "tiny", "--storage", storage, "--rank", str(len(ranked)), "-o", "r.yaml"],
            env, tmp)
    assert r.returncode == 0 and yaml.safe_load((tmp / "r.yaml").read_text())["source"]["trial"] == last.number
    r = run(["pick", "--study-name", "tiny", "--storage", storage, "--trial", str(last.number), "-o", "t.yaml"],
            env, tmp)
    assert r.returncode == 0 and yaml.safe_load((tmp / "t.yaml").read_text())["arch"] == last.user_attrs["arch"]

    # constraints: the best score among trials within the limit
    limit = min(t.user_attrs["mparams"] for t in ranked)
    fits = [t for t in ranked if t.user_attrs["mparams"] <= limit]
    r = run(["pick", "--study-name", "tiny", "--storage", storage, "--max-mparams", str(limit), "-o", "c.yaml"],
            env, tmp)
    assert r.returncode == 0, r.stderr
    assert yaml.safe_load((tmp / "c.yaml").read_text())["source"]["trial"] == fits[0].number

    for args, needle in [
        (["--max-gflops", "1e-9"], "no complete trial of study 'tiny' meets GFLOPs <= 1e-09"),
        (["--trial", "999"], "has no trial 999"),
        (["--rank", "0"], "--rank 0"),
        (["--rank", "1", "--trial", "0"], "choose one of"),
    ]:
        r = run(["pick", "--study-name", "tiny", "--storage", storage, *args], env, tmp)
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert r.returncode == 2 and len(lines) == 1 and needle in lines[0], r.stderr


def test_pick_retrain_export_predict_end_to_end(study_dir):
    tmp, storage, env = study_dir
    assert run(["pick", "--study-name", "tiny", "--storage", storage, "-o", "e2e.yaml"], env, tmp).returncode == 0
    r = run(["retrain", "e2e.yaml", "-o", "run", "--epochs", "2", "--aug", "1", *TINY_DATA], env, tmp)
    assert r.returncode == 0, r.stderr
    assert "epoch 1:" in r.stdout and "epoch 2:" in r.stdout and "val" in r.stdout
    out = tmp / "run"
    m = json.loads((out / "metrics.json").read_text())
    assert m["score"] == pytest.approx(m["gflops"] * m["mparams"] * np.exp(m["test_px_error"]))
    assert 0 <= m["test_pck"] <= 1 and 0 <= m["test_auc"] <= 1 and len(m["history"]) == 2
    assert m["test_px_error"] > 0 and m["best_epoch"] in (1, 2)
    png = cv2.imread(str(out / "predictions.png"))
    assert png is not None and png.shape[0] >= 192 and png.shape[1] >= 192
    html = (out / "curves.html").read_text()
    assert "learning rate" in html and not re.search(r"<script[^>]+src=", html)

    # export, then check it ourselves with onnxruntime at a batch size other than the export's
    ort = pytest.importorskip("onnxruntime")
    r = run(["export", "run/checkpoint.pt", "--onnx", "m.onnx"], env, tmp)
    assert r.returncode == 0, r.stderr
    assert "max |heatmap diff|" in r.stdout
    from nas.training.checkpoint import load_trained_model
    from nas.training.evaluation import predict_keypoints

    model, ck = load_trained_model(out / "checkpoint.pt")
    size = ck.arch.input_size
    images = torch.randint(0, 256, (5, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    sess = ort.InferenceSession(str(tmp / "m.onnx"), providers=["CPUExecutionProvider"])
    heat = sess.run(None, {"images": images.float().div(255).numpy()})[0]
    with torch.no_grad():
        ref = model(images.float().div(255))
    assert heat.shape == tuple(ref.shape) and np.abs(heat - ref.numpy()).max() <= 1e-4
    from nas.keypoints.decoding import soft_argmax

    kp_ort = soft_argmax(torch.from_numpy(heat), 4)[0]
    assert torch.allclose(kp_ort, predict_keypoints(model, images, ck.recipe.loss), atol=1e-3)

    # predict: a folder with real images of other sizes, one broken file, one text file
    from nas.data.synth import render_batch

    folder = tmp / "imgs"
    folder.mkdir()
    ims, kps, _ = render_batch(3, 96, seed=5)
    for i in range(3):
        cv2.imwrite(str(folder / f"hand{i}.png"), cv2.cvtColor(np.ascontiguousarray(ims[i].transpose(1, 2, 0)),
                                                            cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(folder / "wide.jpg"), np.full((40, 160, 3), 128, np.uint8))
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    (folder / "notes.txt").write_text("not an image")
    r = run(["predict", "run/checkpoint.pt", "--images", "imgs", "--csv", "p.csv"], env, tmp)
    assert r.returncode == 0, r.stderr
    assert "broken.jpg" in r.stderr and "notes.txt" in r.stderr  # reported by name, not silently
    rows = list(csv.reader((tmp / "p.csv").open()))
    assert rows[0] == ["image"] + [f"{a}{k}" for k in range(21) for a in ("x", "y")]
    assert [row[0] for row in rows[1:]] == ["hand0.png", "hand1.png", "hand2.png", "wide.jpg"]
    # keypoints come back in original pixels: the 160x40 image's predictions lie in its frame (x up to 160)
    wide = np.array(rows[4][1:], float).reshape(21, 2)
    assert np.all(wide[:, 0] >= -1) and np.all(wide[:, 0] <= 161)
    # and they are the model's predictions at input size, scaled by 96/size for the 96 px images
    x = torch.from_numpy(np.stack([ims[0]]))
    from nas.deploy.predict import letterbox

    lb, scale = letterbox(cv2.cvtColor(np.ascontiguousarray(ims[0].transpose(1, 2, 0)), cv2.COLOR_RGB2BGR), size)
    with torch.no_grad():
        direct = predict_keypoints(model, torch.from_numpy(lb[None]), ck.recipe.loss)[0].numpy() / scale
    assert np.allclose(np.array(rows[1][1:], float).reshape(21, 2), direct, atol=0.02)
    assert x.shape[-1] == 96

    r = run(["predict", "run/checkpoint.pt", "--images", "nowhere", "--csv", "q.csv"], env, tmp)
    assert r.returncode == 2 and "nowhere: not a folder of images" in r.stderr
    assert not (tmp / "q.csv").exists()


@pytest.mark.slow  # make test-all; the suite stays under 6 minutes
def test_a_killed_retrain_resumes_from_its_last_epoch(study_dir):
    tmp, storage, env = study_dir
    assert run(["pick", "--study-name", "tiny", "--storage", storage, "-o", "k.yaml"], env, tmp).returncode == 0
    args = ["retrain", "k.yaml", "--epochs", "4", "--aug", "2", *TINY_DATA]
    ckpt = tmp / "killed" / "checkpoint.pt"
    proc = subprocess.Popen(cli(*args, "-o", "killed"), env=env, cwd=tmp, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    from nas.training.checkpoint import load_checkpoint

    before = load_checkpoint(ckpt)
    assert 1 <= before.epoch < 4, "the run should have been killed mid-way"
    r = run([*args, "-o", "killed"], env, tmp)
    assert r.returncode == 0, r.stderr
    assert f"resuming after epoch {before.epoch} of 4" in r.stdout
    resumed = json.loads((tmp / "killed" / "metrics.json").read_text())
    assert len(resumed["history"]) == 4
    # nothing lost: the finished epochs are kept as they were, and the whole run equals an uninterrupted one
    kept = [h["px_error"] for h in resumed["history"][: before.epoch]]
    assert kept == [h.px_error for h in before.state.result.history]
    r = run([*args, "-o", "whole"], env, tmp)
    assert r.returncode == 0, r.stderr
    whole = json.loads((tmp / "whole" / "metrics.json").read_text())
    assert [h["px_error"] for h in whole["history"]] == [h["px_error"] for h in resumed["history"]]
    assert whole["test_px_error"] == resumed["test_px_error"]

    # the same folder with a different recipe is refused, naming the difference
    r = run(["retrain", "k.yaml", "--epochs", "5", "--aug", "2", *TINY_DATA, "-o", "killed"], env, tmp)
    assert r.returncode == 2 and "recipe.epochs: 4 -> 5" in r.stderr and "--restart" in r.stderr


@pytest.mark.slow  # make test-all; the suite stays under 6 minutes
def test_fidelity_retrains_and_stores_rank_correlations(study_dir):
    from scipy.stats import kendalltau

    tmp, storage, env = study_dir
    r = run(["fidelity", "--study-name", "tiny", "--storage", storage, "--top", "1", "--spread", "2",
             "--random", "0", "--epochs", "1", *TINY_DATA], env, tmp, timeout=600)
    assert r.returncode == 0, r.stderr
    study = optuna.load_study(study_name="tiny", storage=storage)
    fid = study.user_attrs["fidelity"]
    assert fid["n"] == 3 and len(fid["rows"]) == 3  # the best, then the cheapest and dearest of the others
    by_cost = sorted((t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE),
                     key=lambda t: (t.user_attrs["cost"], t.number))
    assert {by_cost[0].number, by_cost[-1].number} <= {row["number"] for row in fid["rows"]}
    labels = {"kendall_tau_score": "Kendall tau on score", "spearman_rho_score": "Spearman rho on score",
              "kendall_tau_error": "Kendall tau on error", "spearman_rho_error": "Spearman rho on error"}
    for name, label in labels.items():  # each figure with its bootstrap interval, stored and printed
        lo, hi = fid[f"{name}_ci"]
        assert (np.isnan(lo) and np.isnan(hi)) or -1 <= lo <= hi <= 1
        assert re.search(rf"^{label} (n/a|-?\d\.\d{{3}}) \[(n/a|-?\d\.\d\d, -?\d\.\d\d)\]$", r.stdout,
                         re.MULTILINE), r.stdout
    assert fid["ci_level"] == 0.95 and fid["n_boot"] == 2000
    assert re.search(r"^Ranking by cost alone \(dearer = lower error\): Kendall tau on error (n/a|-?\d\.\d{3}) ",
                     r.stdout, re.MULTILINE), r.stdout
    by_cost_px = [x["full_px_error"] for x in sorted(fid["rows"], key=lambda x: x["gflops"] * x["mparams"])]
    if len(set(by_cost_px)) == 3:
        assert fid["cost_only_kendall_tau_error"] == pytest.approx(kendalltau(range(3, 0, -1), by_cost_px).statistic)
    assert "the intervals are wide" in r.stdout  # 3 < 12 architectures
    for row in fid["rows"]:
        assert (tmp / "reports" / "fidelity" / "tiny" / f"trial_{row['number']}" / "metrics.json").exists()
        assert row["full_score"] == pytest.approx(row["gflops"] * row["mparams"] * np.exp(row["full_px_error"]))
    tau = kendalltau([x["proxy_score"] for x in fid["rows"]], [x["full_score"] for x in fid["rows"]]).statistic
    assert fid["kendall_tau_score"] == pytest.approx(tau)
    html = (tmp / "reports" / "tiny.html").read_text()
    assert "Proxy fidelity" in html and "Kendall" in html and "bootstrap 95% interval" in html


@pytest.mark.slow  # make test-all; the suite stays under 6 minutes
def test_retrain_on_a_dataset_reports_errors_in_original_pixels(study_dir):
    # a CSV dataset of 128 px hands, retrained at the architecture's 64 px: every image is resized by 1/2,
    # so the error in original-image pixels is twice the error at the model input
    tmp, storage, env = study_dir
    r = run(["data", "synth", "--out", "ds", "--count", "40", "--size", "128", "--seed", "4"], env, tmp)
    assert r.returncode == 0, r.stderr
    assert run(["pick", "--study-name", "tiny", "--storage", storage, "-o", "d.yaml"], env, tmp).returncode == 0
    r = run(["retrain", "d.yaml", "-o", "ds_run", "--epochs", "1", "--aug", "1", "--data", "ds",
             "--train-images", "24", "--val-images", "8", "--test-images", "8", "--device", "cpu"], env, tmp)
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp / "ds_run" / "metrics.json").read_text())
    assert m["arch"]["input_size"] == 64
    assert m["test_px_error_original"] == pytest.approx(2 * m["test_px_error"], rel=1e-4)
