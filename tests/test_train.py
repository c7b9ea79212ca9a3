import dataclasses
import json

import numpy as np
import pytest
import torch

from neuralprog import checkpoint
from neuralprog.evaluate import evaluate
from neuralprog.models.npi import NPI
from neuralprog.presets import get_preset, override
from neuralprog.registry import program_task
from neuralprog.train.common import TrainingError
from neuralprog.train.supervised import build_model, parameter_groups, train


def _quiet(**kw):
    return {"progress": False, "log": lambda _: None, **kw}


def test_tiny_npi_adds_100_digit_numbers_exactly(addition, tiny_runs):
    """The learning test: addition-tiny (with the tests' TINY settings, see conftest for the updates each
    seed took) stops early, every training step and validation sum right, before its 2,500-update cap,
    and adds 100-digit numbers exactly (trained on at most 10): seed 0 does, or else seed 1. Counted in
    updates: a wall-clock bound fails whenever the machine is busy."""
    cap = get_preset("addition-tiny").train.updates
    results = []
    for _, payload, *_ in tiny_runs:
        [result] = evaluate(checkpoint.load_model(payload, NPI), addition, [100], n=20, seed=7)
        seed, updates = payload["preset"]["train"]["seed"], payload["update"]
        results.append((seed, updates, payload["finished"] and updates < cap, result.accuracy))
    assert any(early and accuracy == 1.0 for _, _, early, accuracy in results), (
        f"(seed, updates, stopped early, 100-digit accuracy): {results}"
    )


def _short(preset_name="addition-tiny", updates=60):
    preset = get_preset(preset_name)
    return dataclasses.replace(
        preset, train=dataclasses.replace(preset.train, updates=updates, eval_every=20, checkpoint_every=20)
    )


@pytest.mark.slow
def test_same_seed_same_weights(tmp_path):
    preset = _short()
    a = checkpoint.load(train(preset, tmp_path / "a", **_quiet()))["model"]
    b = checkpoint.load(train(preset, tmp_path / "b", **_quiet()))["model"]
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    other = dataclasses.replace(preset, train=dataclasses.replace(preset.train, seed=1))
    c = checkpoint.load(train(other, tmp_path / "c", **_quiet()))["model"]
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_same_seed_same_weights_on_two_threads(tmp_path):
    """The tests run torch on one thread; users and benchmarks on several, where an accumulation whose
    order depends on the threads (the program embedding's gradient, once) makes the same seed train
    another model from run to run."""
    from neuralprog.presets import override

    # batches big enough for torch to accumulate that gradient on both threads
    preset = override(
        get_preset("sort"),
        ["data.sizes=20", "data.per_size=8", "train.updates=2", "train.validation_problems=4"],
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        a = checkpoint.load(train(preset, tmp_path / "a", **_quiet()))["model"]
        b = checkpoint.load(train(preset, tmp_path / "b", **_quiet()))["model"]
    finally:
        torch.set_num_threads(threads)
    assert [k for k in a if not torch.equal(a[k], b[k])] == []


@pytest.mark.slow
def test_resume_continues_exactly(tmp_path):
    """Training 60 updates straight equals 40 updates, a stop, and a resume extended to 60."""
    full = _short(updates=60)
    straight = checkpoint.load(train(full, tmp_path / "straight", **_quiet()))
    train(_short(updates=40), tmp_path / "split", **_quiet())
    resumed = checkpoint.load(train(full, tmp_path / "split", resume=True, **_quiet()))
    assert resumed["update"] == straight["update"] == 60
    assert all(torch.equal(straight["model"][k], resumed["model"][k]) for k in straight["model"])


def test_existing_run_dir_is_never_overwritten(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(TrainingError, match="already exists"):
        train(_short(), out, **_quiet())
    assert (out / "notes.txt").read_text() == "keep me"


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    preset = override(_short(updates=200), ["train.lr=1e30", "train.checkpoint_every=1"])
    out = tmp_path / "run"
    with pytest.raises(TrainingError, match="non-finite loss"):
        train(preset, out, **_quiet())
    payload = checkpoint.load(out / "checkpoint.pt")
    assert all(torch.isfinite(v).all() for v in payload["model"].values() if v.is_floating_point())


def test_adaptive_curriculum_favours_programs_and_frames_with_errors():
    from neuralprog.train.curriculum import FrameSampler

    programs = np.repeat([0, 1, 2], [100, 100, 100])
    sampler = FrameSampler(programs, adaptive=True, temperature=0.05, hard_fraction=0.5)
    wrong = np.zeros(300, dtype=bool)
    wrong[[100, 101, 102]] = True  # 3% of program 1's frames are wrong
    sampler.update(wrong)
    picks = sampler.sample(np.random.default_rng(0), 3000)
    share = np.bincount(programs[picks], minlength=3) / len(picks)
    assert share[1] > 0.35 and share[0] > 0.2 and share[2] > 0.2  # 3% error: 0.5 * 1.82 / 3.82 + 1/6
    assert np.isin(picks, [100, 101, 102]).mean() > 0.15  # half of program 1's share

    # An evaluation of some frames re-estimates from those and keeps what it did not see.
    wrong[250] = True
    sampler.update(wrong)  # program 2: 1% wrong
    checked = np.zeros(300, dtype=bool)
    checked[[0, 1, 100, 103, 104, 105]] = True
    sampler.update(np.isin(np.arange(300), [0, 103]), checked)
    assert sampler.error.tolist() == pytest.approx([0.5, 0.25, 0.01])
    assert np.flatnonzero(sampler.frame_wrong).tolist() == [0, 101, 102, 103, 250]


def test_the_curriculum_can_split_a_batch_by_steps_instead_of_frames():
    """curriculum_by_steps: a program whose frames are ten times longer gets a tenth as many frames for
    the same error, so each program's share counts steps."""
    from neuralprog.train.curriculum import FrameSampler

    programs = np.repeat([0, 1], [100, 100])
    lengths = np.where(programs == 0, 20, 2)
    by_frames = FrameSampler(programs, adaptive=True, temperature=0.05, hard_fraction=0.0)
    by_steps = FrameSampler(programs, True, 0.05, 0.0, frame_lengths=lengths)
    for sampler in (by_frames, by_steps):
        sampler.update(np.zeros(200, dtype=bool))
    frames_share = (programs[by_frames.sample(np.random.default_rng(0), 4000)] == 0).mean()
    picks = by_steps.sample(np.random.default_rng(0), 4000)
    steps_share = lengths[picks][programs[picks] == 0].sum() / lengths[picks].sum()
    assert frames_share == pytest.approx(0.5, abs=0.03)
    assert steps_share == pytest.approx(0.5, abs=0.03)
    assert (programs[picks] == 0).mean() == pytest.approx(1 / 11, abs=0.02)


@pytest.mark.slow
def test_a_sampled_evaluation_that_finds_nothing_wrong_is_followed_by_a_full_one(tmp_path, monkeypatch):
    """train.eval_share: an evaluation runs a share of the distinct frames; when they are all right
    (forced here), every frame is run, since stopping needs that; the last evaluation is always full."""
    from neuralprog.train import supervised

    real, shares = supervised.frame_accuracy, []

    def spy(model, data, distinct=None):
        result = real(model, data, distinct=distinct)
        shares.append(None if distinct is None else len(distinct) / len(data.distinct))
        return result if distinct is None else dataclasses.replace(result, step_accuracy=1.0)

    monkeypatch.setattr(supervised, "frame_accuracy", spy)
    preset = override(_short(updates=60), ["train.eval_share=0.25", "train.stop_after_perfect=0"])
    train(preset, tmp_path / "run", **_quiet())
    # After updates 20 and 40: a quarter of the frames, then all of them; after 60 (the last): all.
    assert shares[0] == pytest.approx(0.25, abs=0.02) and shares[2] == pytest.approx(0.25, abs=0.02)
    assert len(shares) == 5 and shares[1] is None and shares[3] is None and shares[4] is None


@pytest.mark.slow
def test_a_dip_in_step_accuracy_never_drops_the_learning_rate_below_its_floor(tmp_path, monkeypatch):
    """Every evaluation worse than the one before halves the rate (lr_drop), down to lr_min and no lower:
    a rate halved at every dip would freeze training."""
    from neuralprog.train import supervised

    real = supervised.frame_accuracy
    worse = iter(np.linspace(0.9, 0.1, 50))
    monkeypatch.setattr(
        supervised,
        "frame_accuracy",
        lambda model, data, **kw: dataclasses.replace(
            real(model, data, **kw), step_accuracy=float(next(worse))
        ),
    )
    preset = override(
        _short(updates=60),
        ["train.eval_every=3", "train.lr_drop=0.5", "train.lr=1e-3", "train.lr_min=1e-4", "train.lr_decay=1"],
    )
    train(preset, tmp_path / "run", **_quiet())
    rates = [
        row["train/lr"]
        for row in map(json.loads, (tmp_path / "run" / "metrics.jsonl").read_text().splitlines())
        if "train/lr" in row
    ]
    assert rates[:5] == pytest.approx([1e-3, 5e-4, 2.5e-4, 1.25e-4, 1e-4])
    assert rates[4:] == pytest.approx([1e-4] * (len(rates) - 4)) and len(rates) == 20


def test_a_run_saved_before_an_option_existed_still_resumes():
    from neuralprog.train.common import same_run

    wanted = {"name": "sort", "train": {"updates": 10, "lr": 1e-3, "lr_min": 1e-5}, "model": {"hidden": 8}}
    older = {"name": "sort", "train": {"updates": 5, "lr": 1e-3}, "model": {"hidden": 8}}
    assert same_run(older, wanted)
    assert not same_run({**older, "train": {"updates": 5, "lr": 3e-3}}, wanted)
    assert not same_run({**older, "model": {"hidden": 16}}, wanted)
    assert not same_run({**older, "name": "addition"}, wanted)
    assert not same_run(None, wanted)


def test_weight_decay_spares_the_program_memory():
    """One AdamW step with zero gradients moves nothing but the decay: every weight of the network
    shrinks by lr x weight_decay, the program memory (embeddings, keys) stays; each parameter is in
    one group."""
    preset = get_preset("sort")
    model = build_model(program_task("sort"), preset, seed=0)
    cfg = dataclasses.replace(preset.train, lr=1e-3, weight_decay=2.0)
    groups = parameter_groups(model, cfg)
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    optimizer = torch.optim.AdamW(groups, lr=cfg.lr)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()
    for name, p in model.named_parameters():
        kept = name in ("program_embedding", "program_keys")
        expected = before[name] if kept else before[name] * (1 - cfg.lr * cfg.weight_decay)
        torch.testing.assert_close(p.detach(), expected, rtol=0, atol=1e-7, msg=name)
    assert not torch.equal(model.lstm.bias_ih_l0, before["lstm.bias_ih_l0"])


def test_resuming_an_optimizer_of_another_layout_is_one_clear_error(tmp_path):
    """A checkpoint whose optimizer has other parameter groups (an older trainer's) is refused with a
    TrainingError that says to start afresh, not a traceback from torch."""
    run = tmp_path / "run"
    path = train(_short(updates=20), run, **_quiet())
    payload = checkpoint.load(path)
    optimizer = payload["optimizer"]
    every = [i for group in optimizer["param_groups"] for i in group["params"]]
    optimizer["param_groups"] = [{**optimizer["param_groups"][0], "params": every}]
    torch.save(payload, path)
    with pytest.raises(TrainingError, match=r"older version.*new directory"):
        train(_short(updates=40), run, resume=True, **_quiet())
