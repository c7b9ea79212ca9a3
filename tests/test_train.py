import dataclasses
import json
import time

import numpy as np
import pytest
import torch

from neuralprog import checkpoint
from neuralprog.evaluate import evaluate
from neuralprog.frames import FrameData
from neuralprog.models.npi import NPI
from neuralprog.presets import get_preset, override
from neuralprog.registry import program_task
from neuralprog.traces import frames, generate
from neuralprog.train.common import TrainingError
from neuralprog.train.supervised import build_model, evaluation_frames, parameter_groups, train


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


def test_validation_runs_only_where_it_can_stop_training(tiny_runs):
    """The validation problems run at the evaluations that complete a streak of stop_after_perfect with
    every training step right (and at the last update), and a run stops at the first of them with every
    validation problem right. The seconds it reports include that last evaluation."""
    for path, payload, early, _ in tiny_runs:
        k = payload["preset"]["train"]["stop_after_perfect"]
        rows = [json.loads(line) for line in (path.parent / "metrics.jsonl").read_text().splitlines()]
        evaluations = [r for r in rows if "eval/step_accuracy" in r]
        streak, validated = 0, []
        for r in evaluations:
            streak = streak + 1 if r["eval/step_accuracy"] == 1.0 else 0
            assert any(key.startswith("eval/validation") for key in r) == (streak >= k), r
            validated.append(streak >= k and r.get("eval/validation_accuracy@10") == 1.0)
        if early:
            assert validated[-1] and not any(validated[:-1])
            assert evaluations[-1]["update"] == payload["update"] == rows[-1]["update"]
        assert payload["elapsed"] >= rows[-1]["time"]


def test_training_seconds_include_the_last_evaluation(tmp_path, monkeypatch):
    """A run's seconds (the checkpoint's elapsed, the metrics' time) count its evaluations up to the
    last: a validation run made 2 s slower shows in both."""
    import neuralprog.train.supervised as supervised

    real_run = supervised.run

    def slow_run(*args, **kwargs):
        time.sleep(2.0)
        return real_run(*args, **kwargs)

    monkeypatch.setattr(supervised, "run", slow_run)
    run_dir = tmp_path / "run"
    payload = checkpoint.load(train(_short(updates=2), run_dir, **_quiet()))
    last = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[-1])
    assert "eval/validation_accuracy@10" in last  # the last update validates
    assert payload["elapsed"] >= last["time"] >= 2.0


def test_an_evaluation_also_checks_the_frames_the_last_one_found_wrong():
    """A sampled evaluation runs its share of each program's frames and the suspects; the last update's
    and one with eval_share 1 run every frame (None)."""
    task = program_task("addition")
    traces = generate(task, [3], 8, seed=0)
    data = FrameData([f for t in traces for f in frames(task, t)], torch.device("cpu"))
    cfg = dataclasses.replace(get_preset("addition").train, eval_share=0.1, updates=1000)
    suspects = data.distinct[-3:]
    without = evaluation_frames(data, cfg, 100, suspects[:0])
    with_suspects = evaluation_frames(data, cfg, 100, suspects)
    assert without is not None and with_suspects is not None
    assert len(without) < len(data.distinct)
    np.testing.assert_array_equal(with_suspects, np.union1d(without, suspects))
    assert evaluation_frames(data, cfg, 1000, suspects) is None
    assert evaluation_frames(data, dataclasses.replace(cfg, eval_share=1.0), 100, suspects) is None


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

    def spy(model, data, distinct=None, **kwargs):
        result = real(model, data, distinct=distinct, **kwargs)
        shares.append(None if distinct is None else len(distinct) / len(data.distinct))
        # every frame right, so that no suspect joins the next sample
        return dataclasses.replace(result, frame_ok=result.checked, step_accuracy=1.0)

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
    cfg = dataclasses.replace(preset.train, lr=1e-3, weight_decay=2.0, weight_decay_traces=0)
    groups = parameter_groups(model, cfg, traces=1216)
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


def test_weight_decay_scales_with_the_inverse_square_root_of_the_traces():
    """With weight_decay_traces set, weight_decay is the rate at that many traces: 4 times the traces,
    half the decay; the program memory is spared whatever the data."""
    preset = get_preset("sort")
    model = build_model(program_task("sort"), preset, seed=0)
    cfg = dataclasses.replace(preset.train, weight_decay=2.0, weight_decay_traces=8)
    for traces, decay in ((8, 2.0), (32, 1.0), (1152, 2.0 / 12)):
        rates = [g["weight_decay"] for g in parameter_groups(model, cfg, traces)]
        assert rates == pytest.approx([decay, 0.0])


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
