import numpy as np
import torch

from neuralprog.execute import run, run_one_at_a_time
from neuralprog.families import load
from neuralprog.models.npi import NPI, NPIConfig


def _random_model(task, seed):
    torch.manual_seed(seed)
    return NPI(
        NPIConfig(obs_sizes=task.env_obs_sizes, n_programs=len(task.programs), hidden_size=32, mlp_size=32)
    )


def test_untrained_model_never_hangs(addition):
    """A random model calls and loops arbitrarily; budgets stop every problem."""
    rng = np.random.default_rng(0)
    problems = [addition.sample(rng, n) for n in (1, 3, 7, 20)]
    for seed in range(4):
        result = run(_random_model(addition, seed), addition, problems)
        budgets = np.asarray([addition.step_budget(p) for p in problems])
        assert (result.steps <= budgets).all()
        for halted, failure in zip(result.halted, result.failure, strict=True):
            assert halted or "budget" in failure


def test_lockstep_equals_one_at_a_time_untrained(addition):
    rng = np.random.default_rng(1)
    problems = [addition.sample(rng, int(n)) for n in rng.integers(1, 15, size=12)]
    for seed in range(3):
        model = _random_model(addition, seed)
        batched = run(model, addition, problems)
        single = run_one_at_a_time(model, addition, problems)
        assert batched.outputs == single.outputs
        assert batched.steps.tolist() == single.steps.tolist()
        assert batched.halted.tolist() == single.halted.tolist()


def test_lockstep_equals_one_at_a_time_trained(addition, tiny_run):
    model = load(tiny_run).model
    rng = np.random.default_rng(2)
    problems = [addition.sample(rng, int(n)) for n in rng.integers(1, 40, size=16)]
    batched = run(model, addition, problems)
    single = run_one_at_a_time(model, addition, problems)
    assert batched.outputs == single.outputs
    assert batched.steps.tolist() == single.steps.tolist()
    assert batched.halted.all()


def test_step_events_follow_the_oracle_for_a_trained_model(addition, tiny_run):
    from neuralprog.traces import record

    model = load(tiny_run).model
    problem = {"a": "9907", "b": "195"}
    events = []
    result = run(model, addition, [problem], on_step=lambda ev, machine: events.extend(ev))
    oracle = record(addition, problem).steps
    assert result.outputs == [addition.expected(problem)]
    assert [(e.depth, e.program, e.next, tuple(e.next_args)) for e in events] == [
        (s.depth, s.program, s.next, tuple(s.next_args)) for s in oracle
    ]
