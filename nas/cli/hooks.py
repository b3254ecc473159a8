"""Study and retrain progress: rich bars on a terminal, plain lines otherwise."""
from __future__ import annotations

from nas.cli.app import console


def worker_line(info) -> str:
    """A starting worker's threads in one line: how many workers share this host's cores, or what fixed them."""
    workers = f"{info.live} live worker{'s' if info.live != 1 else ''} of study {info.study} on this host"
    if info.shared:
        return f"worker {info.worker}: {workers} -> {info.threads} of {info.cores} cores (set --threads to override)"
    return f"worker {info.worker}: {info.threads} thread(s) from {info.source} ({workers}, {info.cores} cores)"


class RichStudyHooks:
    """Bars over trials and over the current trial's epochs (rich), for a terminal."""

    def __init__(self, progress, trials_task, epochs: int) -> None:
        self.progress, self.trials_task, self.epochs = progress, trials_task, epochs
        self.epoch_task = progress.add_task("  trial", total=epochs, info="")
        self.step_task = progress.add_task("  steps", total=1, info="")

    def worker_started(self, info) -> None:
        self.progress.console.print(worker_line(info))

    def status(self, text) -> None:
        self.progress.console.print(text)

    def trial_started(self, number, arch, baseline) -> None:
        label = f"  trial {number}" + (f" [{baseline}]" if baseline else "")
        self.progress.reset(self.epoch_task, total=self.epochs, description=label, info=arch.short())
        self.progress.reset(self.step_task, total=1)

    def epoch(self, stats) -> None:
        info = f"val {stats.px_error:.2f} px  loss {stats.train_loss:.4f}  {stats.images_per_s:.0f} img/s"
        self.progress.update(self.epoch_task, advance=1, info=info)

    def step(self, done, total) -> None:
        self.progress.update(self.step_task, completed=done, total=total)

    def trial_finished(self, trial) -> None:
        state = trial.state.name.lower()
        s = trial.user_attrs.get("score")
        info = f"last: #{trial.number} {state}" + (f" score {s:.4g}" if s is not None else "")
        self.progress.update(self.trials_task, advance=1 if trial.state.name in ("COMPLETE", "PRUNED") else 0,
                             info=info)


def trial_line(trial) -> str:
    """A finished trial in one line: number, state, GFLOPs x MParams cost, error, score, reason."""
    a = trial.user_attrs
    parts = [f"trial {trial.number} {trial.state.name.lower()}"]
    if "cost" in a:
        parts.append(f"cost {a['gflops']:.4g} GFLOPs x {a['mparams']:.4g} MParams = {a['cost']:.4g}")
    if "px_error" in a:
        parts.append(f"error {a['px_error']:.3g} px")
    if "score" in a:
        parts.append(f"score {a['score']:.4g}")
    if a.get("reason"):
        parts.append(a["reason"])
    return ", ".join(parts)


class LineHooks:
    """One plain line per finished trial, as it finishes: for logs and cluster jobs (stdout is not a
    terminal) and for --workers, whose processes share one output (each line tagged by its worker)."""

    def __init__(self, worker: int | None = None) -> None:
        self.tag = "" if worker is None else f"[worker {worker}] "

    def worker_started(self, info) -> None:
        print(self.tag + worker_line(info), flush=True)

    def status(self, text) -> None:
        print(self.tag + text, flush=True)

    def trial_started(self, number, arch, baseline) -> None:
        pass

    def epoch(self, stats) -> None:
        pass

    def step(self, done, total) -> None:
        pass

    def trial_finished(self, trial) -> None:
        print(self.tag + trial_line(trial), flush=True)


class _RichRetrainHooks:
    """Data bar, then epoch + step bars; one printed line per epoch so logs keep the curve."""

    def __init__(self, progress, label: str = "epochs") -> None:
        self.progress, self.label = progress, label
        self.data_task = None
        self.train = None

    def data(self, done: int, total: int) -> None:
        if self.data_task is None:
            self.data_task = self.progress.add_task("data", total=total, info="")
        self.progress.update(self.data_task, completed=done)

    def start(self, first_epoch: int, epochs: int) -> None:
        from nas.cli.progress import TrainProgress

        if self.data_task is not None:
            self.progress.remove_task(self.data_task)
            self.data_task = None
        if self.train is not None:
            self.train.__exit__(None, None, None)
        self.train = TrainProgress(console, epochs, self.progress, self.label, completed=first_epoch - 1)
        if first_epoch > 1:
            self.progress.console.print(f"resuming after epoch {first_epoch - 1} of {epochs}")

    def epoch(self, stats) -> None:
        self.train.epoch(stats)
        self.progress.console.print(
            f"epoch {stats.epoch}: loss {stats.train_loss:.4f}  val {stats.px_error:.3f} px  PCK {stats.pck:.3f}  "
            f"lr {stats.lr:.2e}  {stats.images_per_s:.0f} img/s  {stats.seconds:.0f} s")

    def step(self, done: int, total: int) -> None:
        self.train.step(done, total)

    def close(self) -> None:
        if self.train is not None:
            self.train.__exit__(None, None, None)
            self.train = None


def _say_format(fmt: str, count: int) -> None:
    console.print(f"dataset format: {fmt} ({count} hands listed)")

