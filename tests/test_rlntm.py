"""The RL-NTM: controllers, the two-pass rollout, REINFORCE training, the curriculum, the exact
gradient checker and the CLI verbs on RL-NTM checkpoints."""

import json
import time
from dataclasses import replace

import numpy as np
import pytest
import torch

from neuralprog import checkpoint
from neuralprog.cli import main
from neuralprog.envs.tapes import TapeBatch
from neuralprog.execute.rlntm import run
from neuralprog.models.rlntm import (
    RLNTM,
    Baseline,
    RLNTMConfig,
    lstm_sequence,
    rollout,
    score,
    sum_rows,
    write_cell,
)
from neuralprog.presets import get_preset, override
from neuralprog.registry import tape_task, tape_tasks
from neuralprog.train.common import TrainingError
from neuralprog.train.curriculum import LengthCurriculum
from neuralprog.train.gradcheck import CONTROLLERS, check, wrong_action_log_probs
from neuralprog.train.offline_baseline import BaselineFitter, OfflineBaseline
from neuralprog.train.reinforce import sampler, train

TAPE_TASKS = {t.name: t for t in tape_tasks()}


def quiet(_):
    pass


def _train_tape(name: str, seed: int, top: int, cap: int, out) -> tuple:
    """One run of an RL-NTM preset with the curriculum's top at `top`, stopped when solved or after `cap`
    updates: (checkpoint path, payload)."""
    preset = override(
        get_preset(name), [f"train.top_size={top}", f"train.updates={cap}", f"train.seed={seed}"]
    )
    path = train(preset, out, log=quiet, progress=False)
    return path, checkpoint.load(path, kind="rlntm")


COPY_CAP = 3000
"""Updates allowed to solve Copy at length 5. Seeds 0-4 took 1,200 / 1,800 / 1,500 / 2,000 / 1,100 with
the AVX2 kernels the tests pin, and 1,200 / 1,700 / 1,500 / 1,900 / 1,100 with AVX-512 ones."""


@pytest.fixture(scope="module")
def copy_runs(tmp_path_factory):
    """rlntm-copy with the curriculum's top at length 5, the paper's setup: seed 0, and seed 1 only when
    seed 0 does not solve it within COPY_CAP updates (on some CPU's kernels), as [(path, payload)]."""
    runs = []
    for seed in (0, 1):
        runs.append(
            _train_tape("rlntm-copy", seed, 5, COPY_CAP, tmp_path_factory.mktemp("rlntm") / f"copy5-{seed}")
        )
        if runs[-1][1]["solved"]:
            break
    return runs


@pytest.fixture(scope="module")
def copy_run(copy_runs):
    """The checkpoint of the first of those runs that solved Copy (what the CLI tests below run)."""
    solved = [path for path, payload in copy_runs if payload["solved"]]
    if not solved:
        pytest.fail(f"no seed solved Copy at length 5 within {COPY_CAP} updates")
    return solved[0]


@pytest.mark.slow
def test_copy_at_length_5_is_solved_within_3000_updates(copy_runs):
    """Seed 0 solves it, or else seed 1 (each within COPY_CAP updates, half again the slowest seed
    measured): the claim is about the setup, not one seed's trajectory on one CPU. Counted in updates, not
    seconds: a busy machine is slow, not wrong."""
    solved = [payload for _, payload in copy_runs if payload["solved"]]
    tried = [(payload["preset"]["train"]["seed"], payload["update"]) for _, payload in copy_runs]
    assert solved, f"not solved within {COPY_CAP} updates (seed, updates): {tried}"
    payload = solved[0]
    assert payload["accuracy"] >= 0.95 and payload["update"] <= COPY_CAP
    assert payload["curriculum"]["level"] == 5
    model = checkpoint.load_model(payload, RLNTM)
    task = tape_task("copy")
    rng = np.random.default_rng(7)
    problems = [task.sample(rng, 5) for _ in range(100)]
    outputs = run(model, task, problems).outputs
    assert np.mean([o == task.expected(p) for o, p in zip(outputs, problems, strict=True)]) >= 0.95


REPEAT_COPY_CAP = 800
"""Updates allowed to solve RepeatCopy with phrases of 2. Seeds 0-5 took 300 / 300 / 300 / 400 / 300 /
300 with the AVX2 kernels the tests pin, and 300 each with AVX-512 ones. (With phrases of 3, seeds 0-9
took 400 / 500 / never (1,500) / 500 / 500 / 500 / 400 / 500 / 400 / 400 with AVX2 kernels, seeds 0-4
400 / 400 / never / 500 / 500 with AVX-512 ones, and seed 0 never solved it on an AMD EPYC: a seed in
five or ten settles in an optimum it does not leave.)"""


@pytest.mark.slow
def test_repeat_copy_preset_learns_phrases_of_2_for_most_seeds(tmp_path):
    """The rlntm-repeat-copy preset (routed prediction, entropy bonus) with the curriculum's top at
    phrases of 2, where the head must walk back over the phrase between copies: at least 2 of seeds 0-2
    solve it within REPEAT_COPY_CAP updates (stopping once two have)."""
    results = []
    for seed in range(3):
        _, payload = _train_tape("rlntm-repeat-copy", seed, 2, REPEAT_COPY_CAP, tmp_path / f"rc-{seed}")
        results.append((seed, payload["solved"], payload["update"]))
        if payload["solved"]:
            assert payload["accuracy"] >= 0.95 and payload["curriculum"]["level"] == 2
            assert payload["update"] <= REPEAT_COPY_CAP
        solved = sum(ok for _, ok, _ in results)
        if solved == 2 or len(results) - solved > 1:
            break
    assert sum(ok for _, ok, _ in results) >= 2, f"(seed, solved, updates): {results}"


@pytest.mark.parametrize("name", list(TAPE_TASKS))
@pytest.mark.parametrize("controller", CONTROLLERS)
def test_rollout_and_score_compute_the_same_logits(name, controller):
    """The no-autograd rollout (stepwise) and the autograd pass recomputed from what the episodes read
    (one LSTM call, or a replay of the memory writes) agree on every logit the actions were drawn from;
    the autograd pass that takes the rollout's record as its forward gives the same outputs and
    gradients."""
    task = tape_task(name)
    torch.manual_seed(0)
    model = RLNTM(
        replace(
            CONTROLLERS[controller],
            memory=task.memory,
            input_backward=task.input_backward,
            inverse_temperature=1.0,
            init_std=0.5,
        )
    )
    rng = np.random.default_rng(0)
    tapes = TapeBatch(task, task.sample_arrays(rng, rng.integers(1, 8, size=30)), window=2, cell_size=35)
    seen = []
    draw = sampler(torch.Generator().manual_seed(1))

    def choose(logits, step):
        seen.append(logits)
        return draw(logits, step)

    episodes = rollout(model, tapes, choose)
    recomputed = score(model, replace(episodes, record=None))
    live = episodes.live
    stepwise, replayed = torch.stack(seen)[live], recomputed.action_logits[live]
    assert torch.equal(torch.isfinite(stepwise), torch.isfinite(replayed))
    finite = torch.isfinite(stepwise)
    torch.testing.assert_close(replayed[finite], stepwise[finite], rtol=1e-4, atol=1e-4)  # float32 rounding
    scores = score(model, episodes)
    grads = []
    for pass_ in (recomputed, scores):
        objective = pass_.rewards(episodes).sum() + pass_.log_probs(episodes).sum()
        grads.append(torch.autograd.grad(objective, list(model.parameters()), allow_unused=True))
    torch.testing.assert_close(scores.action_logits[live][finite], replayed[finite], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(scores.prediction_logits, recomputed.prediction_logits, rtol=1e-3, atol=1e-3)
    assert all(x is None or x.grad_fn is None for x in vars(episodes.record).values())  # reusable
    for replay_grad, recompute_grad in zip(*grads, strict=True):
        if recompute_grad is None:
            assert replay_grad is None
        else:
            torch.testing.assert_close(replay_grad, recompute_grad, rtol=1e-3, atol=1e-3)
    assert bool(episodes.tapes.done.all())  # every episode ended within its bound
    assert (episodes.advance.sum(0) == episodes.tapes.target_length).all()
    assert Baseline(model.config)(episodes).shape == live.shape


def test_a_routed_controller_cannot_predict_or_write_symbols_from_its_state():
    """predict_from_state off: the prediction is the gated input symbol and cell plus a bias, whatever
    the state; the controller's own write never reaches the symbol part of a cell, which it can only
    keep or fade as a whole."""
    torch.manual_seed(0)
    model = RLNTM(RLNTMConfig(predict_from_state=False, memory=True, init_std=0.5))
    h1, h2 = torch.randn(2, 4, 25)
    control = model.control(h1)
    symbol, cell = torch.tensor([3, 30, 31, 0]), torch.randn(4, 35)
    predicted = [model.prediction(h, control, symbol, cell) for h in (h1, h2)]
    assert torch.equal(*predicted)
    weight, bias = model.write_head()
    written, kept = (write_cell(h1 @ weight.T + bias, c, torch.zeros(4, 35), True) for c in (0 * cell, cell))
    assert torch.equal(written[:, :31], torch.zeros(4, 31)) and written[:, 31:].abs().min() > 0
    ratio = kept[:, :31] / cell[:, :31]  # one forget gate per row for the whole symbol part
    torch.testing.assert_close(ratio, ratio[:, :1].expand(-1, 31))
    with pytest.raises(ValueError, match="direct controller"):
        RLNTM(RLNTMConfig(controller="lstm", predict_from_state=False))


@pytest.mark.parametrize("name", ["copy", "forward-reverse"])
def test_entropy_counts_each_free_choice_of_a_step(name):
    """With all head-move logits zero, a step's entropy is log 3 per free head (input; memory with the
    memory tape) plus log 2 for the output head unless the step is forced; masked actions add nothing
    and give finite gradients."""
    task = tape_task(name)
    model = RLNTM(RLNTMConfig(memory=task.memory, input_backward=task.input_backward))
    with torch.no_grad():
        model.head.weight[:9] = 0.0
        model.head.bias[:9] = 0.0
    rng = np.random.default_rng(0)
    tapes = TapeBatch(task, task.sample_arrays(rng, rng.integers(1, 6, size=20)), window=2, cell_size=35)
    episodes = rollout(model, tapes, sampler(torch.Generator().manual_seed(0)))
    entropy = score(model, episodes).entropy(episodes)
    heads = np.log(3 if task.input_backward else 2) + (np.log(3) if task.memory else 0.0)
    output = torch.where(episodes.forced, 0.0, np.log(2))
    expected = torch.where(episodes.live, heads + output, 0.0)
    torch.testing.assert_close(entropy, expected.float())
    entropy.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_hand_written_backwards_match_autograd():
    torch.manual_seed(0)
    x = torch.randn(6, 3, 8, dtype=torch.float64, requires_grad=True)
    w = torch.randn(8, 2, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(8, dtype=torch.float64, requires_grad=True)
    h0, c0 = torch.randn(2, 3, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda *a: lstm_sequence(*a[:3], initial=a[3:]), (x, bias, w, h0, c0))
    whole, c_whole = lstm_sequence(x, bias, w)  # = the first two steps, then the rest from their state
    first, c_first = lstm_sequence(x[:2], bias, w)
    rest, c_rest = lstm_sequence(x[2:], bias, w, initial=(first[-1], c_first))
    torch.testing.assert_close(torch.cat([first, rest]), whole)
    torch.testing.assert_close(c_rest, c_whole)
    table = torch.randn(20, 4, dtype=torch.float64, requires_grad=True)
    index = torch.randint(0, 20, (3, 5, 6))
    assert torch.autograd.gradcheck(lambda t: sum_rows(t, index), (table,))


@pytest.mark.parametrize("name", ["copy", "forward-reverse"])
@pytest.mark.parametrize("controller", CONTROLLERS)
def test_exact_gradient_check_passes_with_every_variance_reduction(name, controller):
    task = tape_task(name)
    problem = task.sample(np.random.default_rng(0), 1)
    result = check(task, CONTROLLERS[controller], [problem])
    assert abs(result.total_probability - 1) < 1e-12  # every terminating sequence, once
    assert result.sequences > 50
    assert result.passed and result.worst_error < 1e-6


@pytest.mark.parametrize(
    "name,controller", [("copy", c) for c in CONTROLLERS] + [("forward-reverse", "direct")]
)
def test_exact_gradient_check_catches_a_wrong_estimator(name, controller):
    task = tape_task(name)
    problem = task.sample(np.random.default_rng(0), 1)
    result = check(task, CONTROLLERS[controller], [problem], log_probs=wrong_action_log_probs)
    assert not result.passed and result.worst_error > 1e-4


def test_curriculum_mixture_promotion_and_refractory_period():
    curriculum = LengthCurriculum(top=20, start=5)
    sizes = curriculum.sizes(np.random.default_rng(0), 200_000)
    assert sizes.min() == 1 and sizes.max() == 20
    # 65% exactly C + e with e ~ Geometric(1/2): 6 with probability 0.65/2 plus the share of the other rows
    assert 0.33 < np.mean(sizes == 6) < 0.37
    assert np.mean(sizes > 7) < 0.25
    assert not curriculum.observe(50, 0.1)  # within 100 updates of the start
    assert curriculum.observe(100, 0.1) and curriculum.level == 6
    assert not curriculum.observe(150, 0.1) and not curriculum.observe(250, 0.3)
    assert curriculum.observe(200, 0.19) and curriculum.level == 7
    state = curriculum.state()
    again = LengthCurriculum(top=20)
    again.load_state(state)
    assert again.level == 7 and again.raised_at == 200
    off = LengthCurriculum(top=8, enabled=False)
    assert (off.sizes(np.random.default_rng(0), 100) == 8).all() and off.at_top


def _short(updates, *extra, name="rlntm-reverse"):
    return override(get_preset(name), [f"train.updates={updates}", "train.checkpoint_every=10", *extra])


def _same_weights(*paths):
    weights = [checkpoint.load(p, kind="rlntm") for p in paths]
    for net in ("model", "baseline"):
        for key in weights[0][net]:
            assert all(torch.equal(weights[0][net][key], w[net][key]) for w in weights[1:]), key


def test_training_is_deterministic_and_resume_continues_thesame_run(tmp_path):
    straight = train(_short(20), tmp_path / "a", log=quiet, progress=False)
    again = train(_short(20), tmp_path / "b", log=quiet, progress=False)
    train(_short(10), tmp_path / "c", log=quiet, progress=False)
    resumed = train(_short(20), tmp_path / "c", resume=True, log=quiet, progress=False)
    _same_weights(straight, again, resumed)
    metrics = [json.loads(line) for line in (tmp_path / "c" / "metrics.jsonl").read_text().splitlines()]
    assert [m["update"] for m in metrics] == list(range(1, 21))


def test_training_seconds_include_the_last_solve_check(tmp_path, monkeypatch):
    """A run's seconds (the checkpoint's elapsed, the metrics' time) count the greedy solve check of its
    last update: one made 2 s slower shows in both."""
    import neuralprog.train.reinforce as reinforce

    real_run = reinforce.run

    def slow_run(*args, **kwargs):
        time.sleep(2.0)
        return real_run(*args, **kwargs)

    monkeypatch.setattr(reinforce, "run", slow_run)
    preset = _short(4, "train.curriculum=false", "train.eval_every=4", "train.solve_problems=4")
    payload = checkpoint.load(train(preset, tmp_path / "run", log=quiet, progress=False), kind="rlntm")
    last = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert any(k.startswith("eval/accuracy@") for k in last)  # the last update checked
    assert payload["elapsed"] >= last["time"] >= 2.0


@pytest.mark.parametrize("name", ["rlntm-reverse", "rlntm-forward-reverse"])
def test_the_baseline_process_changes_nothing_but_speed(tmp_path, name):
    """train.threads=2 runs the baseline network in a process of its own; the weights must be bit for
    bit those of one thread, also after a resume (the process starts from the checkpoint's state)."""
    one = train(_short(12, name=name), tmp_path / "one", log=quiet, progress=False)
    train(_short(6, "train.threads=2", name=name), tmp_path / "two", log=quiet, progress=False)
    preset = _short(12, "train.threads=2", name=name)
    two = train(preset, tmp_path / "two", resume=True, log=quiet, progress=False)
    _same_weights(one, two)


def test_a_dead_baseline_process_stops_training_with_one_line():
    baseline = OfflineBaseline(BaselineFitter(Baseline(RLNTMConfig()), 0.05, 0.9, 2.0), process=True)
    baseline._process.kill()
    baseline._process.join()
    calls = [
        lambda: baseline.read_tape(torch.zeros(3, 2, dtype=torch.long)),
        lambda: baseline.predict(torch.zeros(4, 2, 8, dtype=torch.long), None),
        baseline.prediction,
        lambda: baseline.fit(torch.zeros(4, 2), torch.ones(4, 2, dtype=torch.bool)),
        baseline.fitted,
        baseline.state,
    ]
    for call in calls:  # each on its own: in one raises-block, the lines after the first never run
        with pytest.raises(TrainingError) as error:
            call()
        message = str(error.value)
        assert "process died; resume" in message and "\n" not in message, message
    baseline.close()  # closing a dead process's pipe is no error


def test_non_finite_loss_stops_cleanly_and_keeps_the_last_checkpoint(tmp_path):
    with pytest.raises(TrainingError, match="non-finite"):
        train(_short(30, "train.lr=inf"), tmp_path / "nan", log=quiet, progress=False)
    with pytest.raises(TrainingError, match="already exists"):
        train(_short(30), tmp_path / "nan", log=quiet, progress=False)


def test_cli_trace_shows_figure_7(copy_run, capsys):
    assert main(["trace", str(copy_run), "--problem", '{"input": [3, 14, 7]}', "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert lines[0] == "input   3 14 7 $" and lines[1] == "target  3 14 7 $"
    assert "step" in lines[2] and "memory" in lines[2]
    assert lines[-1].startswith("output [3, 14, 7]  expected [3, 14, 7]  correct;"), lines[-1]
    # the steps that emit show x1, x2, x3 and END, none of them wrong ('x'; '!' marks a forced advance)
    emitted = [line.split()[-1].rstrip("!") for line in lines[3:-1] if not line.endswith("#")]
    assert emitted == ["3", "14", "7", "$"], lines


def test_cli_eval_and_solve(copy_run, tmp_path, capsys):
    assert main(["eval", str(copy_run), "--lengths", "5,10", "--n", "50", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "copy: 50 random problems per size" in out and "every episode halts" in out
    problems = tmp_path / "in.jsonl"
    problems.write_text(
        '{"input": [3, 14, 7, 1, 29]}\n'
        '{"input": [3, 30]}\n'
        '{"input": []}\n'
        '{"task": "forward-reverse", "input": [1, 2]}\n'
        "not json\n"
    )
    out = tmp_path / "out.jsonl"
    assert (
        main(["solve", str(copy_run), "--problems", str(problems), "--out", str(out), "--device", "cpu"]) == 0
    )
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[0]["output"] == [3, 14, 7, 1, 29] and rows[0]["correct"] and 6 <= rows[0]["steps"] <= 8
    assert "0-29" in rows[1]["error"] and "empty" in rows[2]["error"]
    assert "forward-reverse" in rows[3]["error"] and "JSON" in rows[4]["error"]


def test_cli_rejects_rlntm_misuse_with_one_line(copy_run, tmp_path, capsys):
    assert main(["verify", str(copy_run), "--device", "cpu"]) == 2
    assert main(["trace", str(copy_run), "--problem", '{"input": [3, 40]}', "--device", "cpu"]) == 2
    assert main(["train", "rlntm-copy", "--set", "data.sizes=1", "--out", str(tmp_path / "x")]) == 2
    assert main(["train", "rlntm-copy", "--traces", "t.jsonl", "--out", str(tmp_path / "y")]) == 2
    lstm_routed = ["train", "rlntm-copy-lstm", "--set", "model.predict_from_state=false"]
    assert main([*lstm_routed, "--out", str(tmp_path / "z")]) == 2 and not (tmp_path / "z").exists()
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if line.startswith("neuralprog")] == err.strip().splitlines()
    assert "RL-NTM" in err and "0-29" in err and "SECTION model, train" in err
    assert "needs the direct controller" in err


def test_cli_gradcheck_exit_status(capsys):
    assert main(["gradcheck", "--task", "copy", "--controller", "lstm"]) == 0
    assert "PASS" in capsys.readouterr().out
    assert main(["gradcheck", "--task", "copy", "--controller", "lstm", "--estimator", "wrong-action"]) == 1
    assert "FAILED" in capsys.readouterr().out


@pytest.mark.parametrize("task", ["copy", "duplicated-input", "reverse", "repeat-copy", "forward-reverse"])
def test_a_fast_preset_is_its_task_preset_with_four_settings_of_ours(task):
    """`rlntm-TASK-fast` changes the inverse temperature, entropy bonus, learning rate and refractory
    period of `rlntm-TASK` and nothing else, so its records compare with the paper-settings preset's."""
    base, fast = get_preset(f"rlntm-{task}"), get_preset(f"rlntm-{task}-fast")
    assert (fast.task, fast.model.controller) == (base.task, "direct")
    assert replace(fast.model, inverse_temperature=base.model.inverse_temperature) == base.model
    assert replace(
        fast.train, lr=base.train.lr, refractory=25, entropy_bonus=base.train.entropy_bonus
    ) == replace(base.train, refractory=25)
    assert fast.model.inverse_temperature == 0.1 and fast.train.entropy_bonus == 0.1
    assert fast.train.refractory == 25 < base.train.refractory
    assert fast.train.lr == (0.05 if task == "repeat-copy" else 0.1)
