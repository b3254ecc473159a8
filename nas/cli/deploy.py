"""`pick`, `retrain`, `export`, `predict` and `fidelity`: from a study to a deployable model."""
from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from nas.cli.app import app, console, err_console
from nas.cli.hooks import _RichRetrainHooks
from nas.cli.options import DEFAULT_STORAGE, Aug, Device, RetrainOptions, Storage, use_threads, with_options

OutFolder = Annotated[Path | None, typer.Option("-o", "--out", help="Output folder (default "
                                                "reports/retrain/<file stem>).")]
Checkpoint = Annotated[Path, typer.Argument(help="checkpoint.pt written by `retrain`.")]


@app.command("pick")
def pick_cmd(
    study_name: Annotated[str, typer.Option("--study-name", help="Study to pick from.")],
    storage: Storage = DEFAULT_STORAGE,
    trial: Annotated[int | None, typer.Option("--trial", min=0, help="Pick this trial number.")] = None,
    rank: Annotated[int | None, typer.Option("--rank", help="Pick the K-th best by score (1 = best).")] = None,
    max_gflops: Annotated[float | None, typer.Option(min=0.0, help="Best score with at most this many "
                                                     "GFLOPs.")] = None,
    max_mparams: Annotated[float | None, typer.Option(min=0.0, help="Best score with at most this many "
                                                      "MParams.")] = None,
    max_error: Annotated[float | None, typer.Option(min=0.0, help="Best score with at most this proxy px "
                                                    "error.")] = None,
    out: Annotated[Path | None, typer.Option("-o", "--out", help="Architecture file (default "
                                             "reports/<study>-trial<N>.yaml).")] = None,
) -> None:
    """Choose an architecture (default: the best score; or --trial, --rank, or the best within
    --max-* limits) and write its architecture file: everything needed to rebuild the model plus
    the full training recipe, ready for `retrain`."""
    from nas.deploy.pick import Constraints, pick, spec_for_trial
    from nas.errors import ConfigError
    from nas.search.study import load_existing_study

    if rank is not None and rank < 1:  # checked here, before the storage is opened
        raise ConfigError(f"--rank {rank}: ranks start at 1 (the best score)")
    st = load_existing_study(study_name, storage)
    row = pick(st, trial, rank, Constraints(max_gflops, max_mparams, max_error))
    number = int(row["number"])
    spec = spec_for_trial(st, number, storage)
    path = spec.save(out or Path("reports") / f"{study_name}-trial{number}.yaml")
    _print_pick(spec, row, f"study {study_name}: trial {number} (rank {int(row['rank'])} by score)")
    console.print(f"architecture file: {path}")


def _print_pick(spec, row, title: str) -> None:
    table = Table(title=title)
    table.add_column("field")
    table.add_column("value", justify="right")
    for k, v in spec.arch.to_dict().items():
        table.add_row(k, str(v))
    estimate = " (estimate)" if spec.source.get("px_error_is_estimate") else ""
    for k, label in (("gflops", "gflops"), ("mparams", "mparams"), ("px_error", f"proxy px error{estimate}"),
                     ("score", "proxy score")):
        table.add_row(label, f"{float(row[k]):.4g}")
    r = spec.recipe
    table.add_row("full recipe", f"{r.epochs} epochs, Adam {r.lr:g} -> {r.lr_min:g}, aug x{r.aug_multiplier}, "
                  f"batch {r.batch_size}, loss {r.loss}")
    console.print(table)


@app.command("retrain")
@with_options
def retrain_cmd(
    *,
    arch_file: Annotated[Path, typer.Argument(help="Architecture file from `pick` (or a plain architecture YAML).")],
    out: OutFolder = None,
    opts: RetrainOptions,
    aug: Aug = None,
    restart: Annotated[bool, typer.Option(help="Discard a checkpoint in --out and start over.")] = False,
    init: Annotated[str | None, typer.Option(
        "--init", help="Where training starts: scratch; supernet (the study's shared parent, sliced; the "
                       "architecture file's source.study, in --storage); imagenet (timm's ImageNet backbone at the "
                       "nearest width at or above, sliced; downloaded once, or from the folder in "
                       "HANDKP_IMAGENET_WEIGHTS); or a weights file (a checkpoint or a state dict, sliced). "
                       "Default: the architecture file's init, scratch.")] = None,
    storage: Storage = DEFAULT_STORAGE,
    artifacts: Annotated[Path | None, typer.Option("--artifacts", help="Folder of the study's shared supernet "
                                                   "parents (default: beside the storage file).")] = None,
) -> None:
    """Train an architecture fully (best-on-validation weights) and write checkpoint, metrics,
    curves and a picture of test predictions. Options left out keep the architecture file's recipe.
    Rerun the same command after an interruption to resume from the last finished epoch."""
    from dataclasses import replace

    from nas.deploy.spec import ArchSpec

    spec = ArchSpec.load(arch_file)  # a bad file or option fails before torch is imported
    spec = replace(spec, recipe=replace(spec.recipe, **opts.recipe_overrides(aug)), init=init or spec.init)
    data = opts.data_spec()
    from nas.deploy.init import initial_weights
    from nas.deploy.retrain import retrain
    from nas.training.device import resolve_device

    resolve_device(opts.device)
    use_threads(opts.threads)
    out = out or Path("reports") / "retrain" / arch_file.stem
    start = initial_weights(spec.init, spec.arch, spec.source, storage, artifacts)  # a bad --init fails here
    console.print(f"retraining {spec.arch.short()} @ {spec.arch.input_size}px into {out}"
                  + (f", starting from {start.label}" if start else ""))
    with _retrain_bars(out) as (_progress, hooks):
        result = retrain(spec, data, out, restart, opts.cache_dir, hooks, init=start)
    _print_metrics(result.metrics, f"{spec.arch.short()} @ {spec.arch.input_size}px (test set)")
    for name, path in result.files.items():
        console.print(f"{name:>11}: {path}")


@contextlib.contextmanager
def _retrain_bars(out: Path, epochs_label: str = "epochs") -> Iterator[tuple[Progress, _RichRetrainHooks]]:
    """Rich bars fed by the retrain hooks; Ctrl-C says how to resume."""
    from nas.cli.progress import make_progress

    progress = make_progress(console)
    hooks = _RichRetrainHooks(progress, epochs_label)
    try:
        with progress:
            yield progress, hooks
            hooks.close()
    except KeyboardInterrupt:
        err_console.print(f"interrupted: rerun the same command to resume from the last finished epoch in {out}")
        raise


def _print_metrics(m: dict[str, Any], title: str) -> None:
    table = Table(title=title)
    for col in ("GFLOPs", "MParams", "true GMACs", "test px error", "PCK@0.2", "AUC 0-30px", "score",
                "best epoch"):
        table.add_column(col, justify="right")
    table.add_row(f"{m['gflops']:.4f}", f"{m['mparams']:.4f}", f"{m['true_gmacs']:.4f}", f"{m['test_px_error']:.3f}",
                  f"{m['test_pck']:.3f}", f"{m['test_auc']:.3f}", f"{m['score']:.4g}",
                  f"{m['best_epoch']} / {m['epochs']}")
    console.print(table)
    if m.get("test_px_error_original") is not None:
        console.print(f"test error in original-image pixels: {m['test_px_error_original']:.3f} px")


@app.command("export")
def export_cmd(
    checkpoint: Checkpoint,
    onnx_file: Annotated[Path, typer.Option("--onnx", help="ONNX file to write.")],
    check: Annotated[bool, typer.Option(help="Cross-check with onnxruntime when it is installed.")] = True,
) -> None:
    """Export the checkpoint's best weights to ONNX (input 'images' Nx3xSxS, dynamic batch axis;
    output 'heatmaps') and check it against torch with onnxruntime; exit 2 when they disagree."""
    from nas.deploy.export import check_onnx, export_onnx, onnxruntime_available

    path, model, meta = export_onnx(checkpoint, onnx_file)
    console.print(f"ONNX written: {path} (input 'images' Nx3xSxS float RGB in [0,1], output 'heatmaps'; "
                  f"decode with {meta['handkp.decoder']})")
    if not check:
        return
    if not onnxruntime_available():
        console.print("onnxruntime is not installed: cross-check skipped (pip install 'handkp-search[onnx]')")
        return
    from nas.model.arch import ArchConfig

    arch = ArchConfig.from_json(meta["handkp.arch"])
    c = check_onnx(path, model, arch.input_size, meta["handkp.loss"])
    console.print(f"onnxruntime vs torch on a batch of {c.batch}: max |heatmap diff| {c.max_abs_heatmap_diff:.2e} "
                  f"(<= {c.heatmap_tolerance:g}), max keypoint diff {c.max_keypoint_diff_px:.2e} px")
    c.raise_if_failed()


@app.command("predict")
def predict_cmd(
    checkpoint: Checkpoint,
    images: Annotated[Path, typer.Option("--images", help="Folder of images.")],
    csv_file: Annotated[Path, typer.Option("--csv", help="CSV to write: image,x0,y0,...,x20,y20.")],
    batch_size: Annotated[int, typer.Option(min=1, help="Images per forward pass.")] = 32,
    device: Device = "auto",
) -> None:
    """Predict the 21 keypoints of every image in a folder (original image pixels) into a CSV;
    unreadable files are listed on stderr and skipped."""
    from nas.cli.progress import make_progress
    from nas.deploy.predict import list_images, predict_folder, write_csv
    from nas.errors import DataError
    from nas.training.checkpoint import load_trained_model
    from nas.training.device import resolve_device

    dev = resolve_device(device)
    model, ckpt = load_trained_model(checkpoint)
    total = len(list_images(images))
    progress = make_progress(console)
    with progress:
        task = progress.add_task("images", total=total, info="")
        result = predict_folder(model, ckpt.arch.input_size, ckpt.recipe.loss, images, batch_size, dev,
                                lambda done, _t: progress.update(task, completed=done))
    for name, why in result.skipped:
        err_console.print(f"skipped {images / name}: {why}")
    if not result.predictions:
        raise DataError(f"{images}: no readable image among {total} file(s)")
    path = write_csv(csv_file, result.predictions)
    console.print(f"{len(result.predictions)} image(s) predicted, {len(result.skipped)} skipped: {path}")


@app.command("fidelity")
@with_options
def fidelity_cmd(
    *,
    study_name: Annotated[str, typer.Option("--study-name", help="Study whose proxy to check.")],
    storage: Storage = DEFAULT_STORAGE,
    top: Annotated[int, typer.Option(min=0, help="Retrain the K best trials by proxy score.")] = 4,
    spread: Annotated[int, typer.Option("--spread", min=0, help="Plus N other complete trials evenly spaced "
                                        "over the cost range (cheapest and dearest included).")] = 6,
    random_count: Annotated[int, typer.Option("--random", min=0, help="Plus M other complete trials drawn at "
                                              "random.")] = 2,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the random draw.")] = 0,
    out: Annotated[Path | None, typer.Option("-o", "--out", help="Folder for the retrains (default "
                                             "reports/fidelity/<study>).")] = None,
    opts: RetrainOptions,
    report: Annotated[Path | None, typer.Option("--report", help="Rewrite this report (default "
                                                "reports/<study>.html).")] = None,
) -> None:
    """Check the proxy: retrain a spread of the study's trials fully and rank them again.

    Retrains the top K trials, N more spread evenly over the cost range and M random ones (by
    default 4 + 6 + 2 = 12 architectures) fully, and reports how well the proxy ranked them: Kendall
    tau and Spearman rho on the error against a ranking by cost alone (the proxy's quality), then on
    the score beside cost alone's (mostly cost: the score's cost term is exact in proxy and retrain),
    each with a bootstrap 95% interval over the architectures (wide with few of them). Stored in the
    study; the report shows them. Rerunning resumes unfinished retrains."""
    from nas.deploy.fidelity import run_fidelity, select_trials
    from nas.report import write_report
    from nas.search.study import load_existing_study
    from nas.training.device import resolve_device

    resolve_device(opts.device)
    use_threads(opts.threads)
    data = opts.data_spec()
    st = load_existing_study(study_name, storage)
    numbers = select_trials(st, top, random_count, seed, spread=spread)
    out = out or Path("reports") / "fidelity" / study_name
    console.print(f"fidelity of study {study_name}: retraining trials {', '.join(map(str, numbers))} into {out}")
    with _retrain_bars(out, "  epochs") as (progress, hooks):
        task = progress.add_task("retrains", total=len(numbers), info="")
        result = run_fidelity(st, numbers, data, out, opts.recipe_overrides(), opts.cache_dir, hooks,
                              lambda i, _count, number: progress.update(task, completed=i, info=f"trial {number}"))
        progress.update(task, completed=len(numbers))
    _print_fidelity(result)
    html, _csv = write_report(st, report or Path("reports") / f"{study_name}.html")
    console.print(f"report: {html}")


FEW_ARCHITECTURES = 12  # below this many retrains the fidelity intervals are too wide to conclude much
# the proxy's quality (error, beside the cost-only ranking) first; then the score's figures, which are mostly
# cost, beside the cost-only ranking's tau on score
_ERROR_FIGURES = (("kendall_tau_error", "Kendall tau on error"),
                  ("cost_only_kendall_tau_error", "Ranking by cost alone (dearer = lower error): Kendall tau on error"),
                  ("spearman_rho_error", "Spearman rho on error"))
_SCORE_FIGURES = (("kendall_tau_score", "Kendall tau on score"),
                  ("cost_only_kendall_tau_score", "Ranking by cost alone: Kendall tau on score"),
                  ("spearman_rho_score", "Spearman rho on score"))


def _print_fidelity(result) -> None:
    from nas.deploy.fidelity import proxy_quality_line, score_tau_line

    table = Table(title=f"proxy vs full retrain ({len(result.rows)} architectures)")
    for col in ("trial", "architecture", "proxy px", "full px", "proxy score", "full score"):
        table.add_column(col, justify="right")
    for r in result.rows:
        table.add_row(escape(str(r["number"]) + (f" [{r['baseline']}]" if r["baseline"] else "")), escape(r["arch"]),
                      f"{r['proxy_px_error']:.2f}", f"{r['full_px_error']:.2f}", f"{r['proxy_score']:.4g}",
                      f"{r['full_score']:.4g}")
    console.print(table)
    c = result.correlations
    for figures, verdict in ((_ERROR_FIGURES, proxy_quality_line(c)), (_SCORE_FIGURES, score_tau_line(c))):
        for name, label in figures:
            if name in c or not name.startswith("cost_only"):
                console.print(f"{label} {_fmt_corr(c.get(name))} {_fmt_interval(c.get(name + '_ci'))}", markup=False,
                              highlight=False)
        console.print(f"  {verdict}", markup=False, highlight=False, soft_wrap=True)
    level = c.get("ci_level", 0.95)
    console.print(f"n = {c['n']} architectures; in brackets the bootstrap {level:.0%} interval over them "
                  f"({c.get('n_boot', '?')} resamples)", markup=False, highlight=False)
    if c["n"] < FEW_ARCHITECTURES:
        console.print(f"only {c['n']} architectures (fewer than {FEW_ARCHITECTURES}): the intervals are wide; "
                      "retrain more with --top/--spread/--random to narrow them", markup=False, highlight=False)


def _fmt_corr(value) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.3f}"


def _fmt_interval(ci) -> str:
    if not ci or any(v is None or math.isnan(v) for v in ci):
        return "[n/a]"
    return f"[{ci[0]:.2f}, {ci[1]:.2f}]"
