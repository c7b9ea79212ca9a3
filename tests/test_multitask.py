import dataclasses

import numpy as np
import pytest
import torch
from helpers import assert_packed_equals_stepwise

from neuralprog import checkpoint
from neuralprog.execute import run, run_one_at_a_time
from neuralprog.frames import FrameData
from neuralprog.models.npi import NPI, NPIConfig
from neuralprog.presets import Preset, get_preset
from neuralprog.registry import get_task
from neuralprog.traces import frames, generate, record, replay
from neuralprog.train.extend import ExtendConfig, extend, grow
from neuralprog.train.supervised import train


def _model(task, seed=0):
    torch.manual_seed(seed)
    return NPI(NPIConfig(task.env_obs_sizes, len(task.programs), hidden_size=32, mlp_size=32, state_size=32))


def test_union_program_set_shares_act_and_shifts():
    task = get_task("multitask")
    names = task.programs.names
    assert names[:6] == ["ACT", "ADD", "ADD1", "CARRY", "LSHIFT", "RSHIFT"]
    assert {"BUBBLESORT", "COMPSWAP"} <= set(names) and len(names) == len(set(names))
    assert len(task.env_obs_sizes) == 2
    assert get_task("multitask-max").programs.names == [*names, "RJMP", "MAX"]


def test_mixed_problems_record_and_replay():
    task = get_task("multitask-max")
    rng = np.random.default_rng(0)
    for _ in range(12):
        problem = task.sample(rng, 5)
        assert replay(task, record(task, problem)) == task.expected(problem)
    with pytest.raises(ValueError, match="names its task"):
        task.parse({"array": [1, 2]})
    with pytest.raises(ValueError, match="entry 0"):
        task.parse({"task": "sort", "array": ["x"]})


def test_mixed_batches_train_like_single_steps_and_run_like_one_at_a_time():
    task = get_task("multitask-max")
    model = _model(task).eval()
    traces = generate(task, [2, 3], 3, seed=0)
    data = FrameData([f for t in traces for f in frames(task, t)], torch.device("cpu"))
    assert set(data.env.tolist()) == {0, 1}
    assert_packed_equals_stepwise(model, data)
    problems = [t.problem for t in traces]
    lockstep, alone = run(model, task, problems), run_one_at_a_time(model, task, problems)
    assert lockstep.outputs == alone.outputs and (lockstep.steps == alone.steps).all()


@pytest.fixture(scope="module")
def small_multitask(tmp_path_factory):
    """A briefly trained multitask model (not competent: extend's guarantees do not depend on it)."""
    preset = get_preset("multitask")
    preset = dataclasses.replace(
        preset,
        data=dataclasses.replace(preset.data, sizes=(2, 3), per_size=4),
        model=dataclasses.replace(preset.model, hidden_size=32, mlp_size=32, state_size=32),
        train=dataclasses.replace(preset.train, updates=20, eval_every=10, validation_problems=2),
    )
    return train(preset, tmp_path_factory.mktemp("mt") / "run", progress=False, log=lambda _: None)


def test_extend_trains_only_the_new_rows(small_multitask, tmp_path):
    before = checkpoint.load(small_multitask)
    config = ExtendConfig(sizes=(2, 3), per_size=4, updates=30, eval_every=10, validation_problems=2)
    path = extend(small_multitask, ["RJMP", "MAX"], tmp_path / "ext", config, log=lambda _: None)
    after = checkpoint.load(path)
    assert after["task"] == "multitask-max"
    old, new = before["model"], after["model"]
    n = old["program_keys"].shape[0]
    assert old.keys() == new.keys()
    for name in old:
        if name in ("program_embedding", "program_keys"):
            assert torch.equal(old[name], new[name][:n]), name
            assert new[name].shape[0] == n + 2
        else:
            assert torch.equal(old[name], new[name]), name
    initial = dataclasses.replace(config, updates=0)
    untrained = checkpoint.load(
        extend(small_multitask, ["RJMP", "MAX"], tmp_path / "init", initial, log=print)
    )
    assert not torch.equal(untrained["model"]["program_keys"][n:], new["program_keys"][n:])  # they did learn


def test_old_programs_cannot_call_new_ones(small_multitask, tmp_path):
    config = ExtendConfig(sizes=(2,), per_size=2, updates=0)
    payload = checkpoint.load(extend(small_multitask, ["RJMP", "MAX"], tmp_path / "ext", config, log=print))
    model = checkpoint.load_model(payload, NPI)
    task = get_task("multitask-max")
    n = len(task.programs)
    with torch.no_grad():
        for caller in range(n):
            out, _ = model.step(
                torch.zeros(1, 5, dtype=torch.long),
                torch.zeros(1, 3, dtype=torch.long),
                torch.tensor([caller]),
                model.zero_state(1),
                env=torch.tensor([1]),
            )
            new_best = out.key_scores[0, n - 2 :].max() > out.key_scores[0, : n - 2].max()
            if caller < n - 2:
                assert not new_best and (out.key_scores[0, n - 2 :] < -1e8).all()


@pytest.mark.parametrize(
    ("programs", "message"),
    [
        (["RJMP", "FOO"], "unknown program 'FOO'"),
        (["ADD"], "already exists"),
        (["MAX"], "add one of these sets together: RJMP,MAX"),
        (["MAX", "MAX"], "twice"),
    ],
)
def test_extend_rejects_bad_program_lists(small_multitask, tmp_path, programs, message):
    with pytest.raises(ValueError, match=message):
        extend(small_multitask, programs, tmp_path / "x", log=print)


def test_multitask_preset_trains_one_model_on_addition_and_sorting():
    """The paper's Table 1 setup: one task over both environments (an encoder each), 64 traces per size
    2-10 (576), picked to cover situations, and heads that read the program embedding (for `extend`)."""
    preset = get_preset("multitask")
    assert isinstance(preset, Preset) and preset.task == "multitask"
    task = get_task(preset.task)
    assert list(task.parts) == ["addition", "sort"]
    assert task.env_obs_sizes == (get_task("addition").obs_sizes, get_task("sort").obs_sizes)
    assert preset.data.sizes == tuple(range(2, 11)) and preset.data.per_size * len(preset.data.sizes) == 576
    assert preset.data.cover > preset.data.per_size  # each size's traces chosen from more candidates
    assert preset.model.program_to_heads
    # the greedy cover of the smallest size already draws problems of both tasks
    traces = generate(task, preset.data.sizes[:1], preset.data.per_size, seed=0, cover=preset.data.cover)
    assert len(traces) == preset.data.per_size
    assert {t.problem["task"] for t in traces} == {"addition", "sort"}
    assert all(replay(task, t) == task.expected(t.problem) for t in traces)


def test_extend_targets_match_whole_program_sets():
    from neuralprog.train.extend import target_task

    assert target_task(get_task("sort"), ["RJMP", "MAX"]).name == "max"
    with pytest.raises(ValueError, match="can be added to this model: none"):
        target_task(get_task("sort-recursive"), ["RJMP", "MAX"])  # same names, other call lists


def test_counterexamples_need_a_verifiable_task(tmp_path):
    from neuralprog.presets import override
    from neuralprog.train.common import TrainingError

    preset = override(get_preset("addition-tiny"), ["train.repair_traces=5"])
    with pytest.raises(TrainingError, match="verification set"):
        train(preset, tmp_path / "run", progress=False, log=print)


def test_each_extension_hides_its_programs_from_all_earlier_ones():
    torch.manual_seed(0)
    model = NPI(NPIConfig(obs_sizes=((11, 11),), n_programs=4, hidden_size=8, mlp_size=8))
    twice = grow(grow(model, 2, seed=0), 1, seed=1)  # programs 0-3, then 4-5, then 6
    with torch.no_grad():
        h = torch.randn(7, model.config.hidden_size)
        scores = twice.heads(h, torch.arange(7)).key_scores  # row i: program i's key scores
    hidden = scores < -1e8
    callee_generation = torch.tensor([0, 0, 0, 0, 1, 1, 2])
    assert torch.equal(hidden, callee_generation[None, :] > callee_generation[:, None])
