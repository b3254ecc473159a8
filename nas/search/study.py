"""Opening a study: create or resume one for a search, or load an existing one to look at it."""
from __future__ import annotations

from pathlib import Path

import optuna
from optuna.trial import TrialState

from nas.errors import ConfigError, StudyError
from nas.search.space import SearchSpace
from nas.search.workers.storage import open_storage, storage_file

__all__ = ["OBJECTIVES", "DONE_STATES", "check_objective", "open_study", "load_existing_study", "finished_count"]

OBJECTIVES = ("score", "pareto")  # GFLOPs x MParams x exp(px) | the three as a Pareto front
DONE_STATES = (TrialState.COMPLETE, TrialState.PRUNED)  # what --trials counts; failed trials do not


def _ensure_sqlite_dir(url: str) -> None:
    """Create the folder of an sqlite file, so the default storage under reports/ just works."""
    prefix = "sqlite:///"
    if url.startswith(prefix):
        Path(url[len(prefix):]).parent.mkdir(parents=True, exist_ok=True)


def check_objective(objective: str) -> None:
    """ConfigError unless `objective` is one of `OBJECTIVES`."""
    if objective not in OBJECTIVES:
        raise ConfigError(f"objective: {objective!r} is not one of {', '.join(OBJECTIVES)}")


def open_study(name: str, storage: str, objective: str, space: SearchSpace, seed: int = 0,
               worker_index: int | None = None) -> optuna.Study:
    """Create the study or resume it; refuses to resume with a different objective.

    The sampler's seed derives from `seed` and the worker (`sampler_seed`: workers sharing a study
    must not draw the same start-up trials).
    """
    from nas.search.sampling import make_pruner, make_sampler, sampler_seed  # imports torch: only here

    check_objective(objective)
    _ensure_sqlite_dir(storage)
    directions = ["minimize"] if objective == "score" else ["minimize"] * 3
    sampler = make_sampler(space, sampler_seed(seed, storage, worker_index))
    study = optuna.create_study(study_name=name, storage=open_storage(storage), sampler=sampler,
                                pruner=make_pruner(space, objective), directions=directions, load_if_exists=True)
    stored = study.user_attrs.get("objective")
    if stored is not None and stored != objective:
        raise StudyError(f"study {name!r} was created with --objective {stored}, not {objective}")
    if stored is None:
        study.set_user_attr("objective", objective)
        study.set_user_attr("space", space.to_dict())
        study.set_user_attr("space_file", space.source)
    return study


def load_existing_study(name: str, storage: str) -> optuna.Study:
    """An existing study; unknown names raise StudyError listing the known ones. A storage file
    that does not exist is not created (opening it would)."""
    file = storage_file(storage)
    if file is not None and not file.is_file():
        raise StudyError(f"study {name!r}: no storage at {file} (run `handkp-search study` first, or pass --storage)")
    st = open_storage(storage)
    try:
        return optuna.load_study(study_name=name, storage=st)
    except KeyError:
        known = [s.study_name for s in optuna.get_all_study_summaries(st)]
        listing = ", ".join(known) if known else "none"
        raise StudyError(f"study {name!r} not found in {storage} (studies there: {listing})") from None


def finished_count(study: optuna.Study) -> int:
    """Complete and pruned trials: what `--trials` counts."""
    return len(study.get_trials(deepcopy=False, states=DONE_STATES))
