import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import neuralprog.envs  # noqa: F401  (registers the env ids)
from neuralprog.envs.scratchpad import BLANK, add_digit_strings, parse_addition
from neuralprog.registry import get_task
from neuralprog.traces import record, replay


def test_env_checker_passes():
    env = gym.make("neuralprog/Addition-v0").unwrapped
    check_env(env, skip_render_check=False)


def test_reset_with_explicit_problem_starts_on_rightmost_column():
    env = gym.make("neuralprog/Addition-v0", render_mode="ansi")
    obs, info = env.reset(options={"a": "96", "b": "25"})
    assert obs.tolist() == [6, 5, BLANK, BLANK]
    assert info["output"] == "" and not info["correct"]
    text = env.render()
    assert "IN1" in text and "96" in text and "^" in text


def test_actions_move_pointers_and_write():
    env = gym.make("neuralprog/Addition-v0")
    env.reset(options={"a": "96", "b": "25"})
    obs, *_ = env.step([0, 0, 0])  # IN1 pointer left
    assert obs.tolist() == [9, 5, BLANK, BLANK]
    obs, *_ = env.step([1, 3, 7])  # write 7 to OUT
    assert obs[3] == 7
    obs, *_ = env.step([0, 0, 1])  # IN1 pointer right
    assert obs[0] == 6


def test_reset_is_deterministic_given_seed():
    env = gym.make("neuralprog/Addition-v0")
    _, a = env.reset(seed=3, options={"digits": 12})
    _, b = env.reset(seed=3, options={"digits": 12})
    assert (a["a"], a["b"]) == (b["a"], b["b"])
    assert max(len(a["a"]), len(a["b"])) == 12


def test_truncates_after_step_budget():
    env = gym.make("neuralprog/Addition-v0", max_steps=3)
    env.reset(options={"a": "1", "b": "2"})
    flags = [env.step([0, 0, 0])[3] for _ in range(3)]
    assert flags == [False, False, True]


@pytest.mark.parametrize(
    "problem",
    [
        {"a": "-5", "b": "3"},
        {"a": "", "b": "3"},
        {"a": "1.5", "b": "3"},
        {"a": "12a", "b": "3"},
        {"a": "1"},
        [1, 2],
    ],
)
def test_invalid_problems_raise_clear_value_error(problem):
    with pytest.raises(ValueError, match="addition"):
        parse_addition(problem)


def test_invalid_problem_through_reset():
    env = gym.make("neuralprog/Addition-v0")
    with pytest.raises(ValueError, match="digits"):
        env.reset(options={"a": "+5", "b": "3"})


def test_ten_thousand_digit_numbers():
    """A 10,000-digit sum (a carry through every column) comes out exact: the env's rule, the oracle's
    actions applied to the env's machine, and the env stepped through its first columns."""
    rng = np.random.default_rng(0)
    a = "".join(map(str, rng.integers(1, 10, 10_000)))  # no leading zero: the sum has 10,001 digits
    b = "9" * 10_000
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)  # Python refuses int <-> str beyond 4,300 digits by default
    try:
        total = str(int(a) + int(b))
    finally:
        sys.set_int_max_str_digits(limit)
    assert len(total) == 10_001
    assert add_digit_strings(a, b) == total  # what the env's info["correct"] compares with
    task = get_task("addition")
    trace = record(task, {"a": a, "b": b})
    assert replay(task, trace) == total

    env = gym.make("neuralprog/Addition-v0", render_mode="ansi").unwrapped
    obs, info = env.reset(options={"a": a, "b": b})
    assert obs.tolist() == [int(a[-1]), 9, BLANK, BLANK] and info["output"] == "" and not info["correct"]
    assert len(env.render().splitlines()) <= 10  # long pads render a window
    actions = [s.next_args for s in trace.steps if s.next == "ACT"]
    columns = 0
    for action in actions[:60]:  # env.step reports the whole pad each step: 4 ms at this width
        obs, _, _, truncated, info = env.step(action)
        assert not truncated
        columns = len(info["output"])
    assert columns >= 3 and info["output"] == total[-columns:]


def test_add_digit_strings_matches_python_integers():
    rng = np.random.default_rng(1)
    for _ in range(200):
        a = str(int(rng.integers(0, 10**12)))
        b = str(int(rng.integers(0, 10**6)))
        assert add_digit_strings(a, b) == str(int(a) + int(b))
    assert add_digit_strings("007", "3") == "010"  # keeps the pad's width
