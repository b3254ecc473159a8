"""Supernet proxies in a study: the shared parent is trained once per (space, data, seed), stored as
an artifact and reused; a run killed during its training resumes; a tiny supernet study runs through
the CLI, with two workers training the parent once."""
from __future__ import annotations

import json
import subprocess

import optuna
import pytest
import torch
import yaml
from conftest import TINY_SPACE, cli

from nas.data import load_synthetic
from nas.search.proxy.supernet import ATTR_PREFIX, ParentStore, parent_key
from nas.search.space import parse_space

SUPERNET = {"epochs": 2, "train_images": 32, "children_per_step": 1, "batch_size": 16, "bn_images": 16}


def supernet_space(**supernet):
    raw = yaml.safe_load(TINY_SPACE)
    raw["proxy"]["mode"] = "supernet"
    raw["supernet"] = {**SUPERNET, **supernet}
    return raw


@pytest.fixture()
def data(synth_cache):
    return load_synthetic(48, 64, seed=3, cache_dir=synth_cache)


def _study(tmp_path, name="s"):
    tmp_path.mkdir(parents=True, exist_ok=True)
    storage = f"sqlite:///{tmp_path / 'st.db'}"
    return optuna.create_study(study_name=name, storage=storage), storage


def test_the_parent_is_trained_once_then_loaded_and_a_new_space_trains_a_new_one(tmp_path, data):
    space = parse_space(supernet_space(), "tiny")
    study, storage = _study(tmp_path)
    said = []
    first = ParentStore(study, storage).get(space, "mobilenetv3_small", data, "cpu", 0, said.append)
    again = ParentStore(study, storage).get(space, "mobilenetv3_small", data, "cpu", 0, said.append)
    # 2 epochs of 32 images, batch 16: a line at the start and one after each epoch; none when loaded
    assert said[0] == "training the shared mobilenetv3_small parent (4 steps)" and len(said) == 3
    assert [s.split(" (")[0] for s in said[1:]] == [f"mobilenetv3_small parent: step {n}/4" for n in (2, 4)]
    for a, b in zip(first.model.state_dict().values(), again.model.state_dict().values()):
        assert torch.equal(a, b)
    record = study.user_attrs[ATTR_PREFIX + first.key]
    assert record["epochs"] == 2 and record["steps"] == 4 and record["seconds"] > 0 and record["images"] == 32
    assert list((tmp_path / "st.db.artifacts").glob("*.pt")) == []  # only the artifact, no leftovers
    other = parse_space(supernet_space(epochs=1.5), "tiny")  # a budget may end inside an epoch
    assert parent_key(other, "mobilenetv3_small", 0) != first.key
    second = ParentStore(study, storage).get(other, "mobilenetv3_small", data, "cpu", 0, said.append)
    assert said[3] == "training the shared mobilenetv3_small parent (3 steps)"
    assert [s.split(" (")[0] for s in said[4:]] == [f"mobilenetv3_small parent: step {n}/3" for n in (2, 3)]
    assert study.user_attrs[ATTR_PREFIX + second.key]["epochs"] == 1.5


def test_a_worker_killed_during_parent_training_leaves_a_checkpoint_the_next_one_resumes(tmp_path, data,
                                                                                       monkeypatch):
    import nas.search.proxy.supernet as sn

    space = parse_space(supernet_space(), "tiny")
    straight_study, straight_url = _study(tmp_path / "a")
    straight = ParentStore(straight_study, straight_url).get(space, "mobilenetv3_small", data, "cpu", 0)

    study, storage = _study(tmp_path / "b")
    real = sn.train_supernet

    def killed_after_one_epoch(*args, on_state=None, **kw):
        def state_then_die(state):
            on_state(state)
            raise KeyboardInterrupt

        return real(*args, on_state=state_then_die, **kw)

    monkeypatch.setattr(sn, "train_supernet", killed_after_one_epoch)
    with pytest.raises(KeyboardInterrupt):
        ParentStore(study, storage).get(space, "mobilenetv3_small", data, "cpu", 0)
    assert ATTR_PREFIX + straight.key not in study.user_attrs  # nothing half-trained is recorded
    monkeypatch.setattr(sn, "train_supernet", real)
    said = []
    resumed = ParentStore(study, storage).get(space, "mobilenetv3_small", data, "cpu", 0, said.append)
    assert said[0] == "training the shared mobilenetv3_small parent (4 steps, resumed after step 2)"
    assert [s.split(" (")[0] for s in said[1:]] == ["mobilenetv3_small parent: step 4/4"]  # the epoch it trained
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name


@pytest.mark.slow  # make test-all; the suite stays under 6 minutes
def test_a_supernet_study_runs_through_the_cli_with_two_workers_training_the_parent_once(tmp_path, cli_env):
    space = tmp_path / "tiny.yaml"
    space.write_text(yaml.safe_dump(supernet_space()))
    storage = f"journal:///{tmp_path / 'j.journal'}"
    r = subprocess.run(cli("study", "--space", str(space), "--trials", "4", "--storage", storage, "--device", "cpu",
                           "--study-name", "sn", "--workers", "2"),
                       env=cli_env, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("training the shared mobilenetv3_small parent") == 1, r.stdout
    assert "aug_multiplier: not searched" in r.stdout and "every trial takes 2" in " ".join(r.stdout.split())
    study = optuna.load_study(study_name="sn", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "j.journal"))))
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert complete and all(t.user_attrs["proxy_mode"] == "supernet" for t in complete)
    cheapest = [t for t in complete if t.user_attrs.get("baseline") == "space_cheapest"]
    assert [t.params["aug_multiplier"] for t in cheapest] == [2]  # TINY_SPACE's 1-2 range: the full recipe's 7, capped
    assert len([k for k in study.user_attrs if k.startswith(ATTR_PREFIX)]) == 1
    html = (tmp_path / "reports" / "sn.html").read_text()
    assert "Proxy: supernet" in html and "Shared mobilenetv3_small parent: 2 epochs (4 steps) on 32 images" in html

    # the picked architecture retrained from the study's parent, sliced
    def run(*args):
        return subprocess.run(cli(*args), env=cli_env, cwd=tmp_path, capture_output=True, text=True, timeout=600)

    assert run("pick", "--study-name", "sn", "--storage", storage, "-o", "best.yaml").returncode == 0
    r = run("retrain", "best.yaml", "--init", "supernet", "--storage", storage, "-o", "out", "--epochs", "1",
            "--aug", "1", "--batch-size", "16", "--train-images", "32", "--val-images", "16", "--test-images", "16",
            "--device", "cpu")
    assert r.returncode == 0, r.stderr
    assert "starting from supernet:sn" in r.stdout
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["init"] == "supernet:sn"


def test_an_adopted_parent_is_loaded_by_the_study_instead_of_trained(tmp_path, data):
    from nas.errors import ConfigError
    from nas.model.network import build_model
    from nas.search.proxy.supernet import parent_arch

    space = parse_space(supernet_space(), "tiny")
    study, storage = _study(tmp_path)
    weights = build_model(parent_arch(space, "mobilenetv3_small"), seed=5).state_dict()
    key = ParentStore(study, storage).adopt(space, "mobilenetv3_small", 0, weights, {"origin": "a benchmark"})
    said = []
    loaded = ParentStore(study, storage).get(space, "mobilenetv3_small", data, "cpu", 0, said.append)
    assert said == [] and loaded.key == key  # loaded, not trained
    for name, tensor in loaded.model.state_dict().items():
        assert torch.equal(tensor, weights[name])
    assert study.user_attrs[ATTR_PREFIX + key]["origin"] == "a benchmark"
    with pytest.raises(ConfigError, match="not the space's mobilenetv2 parent"):
        ParentStore(study, storage).adopt(space, "mobilenetv2", 0, weights, {})
