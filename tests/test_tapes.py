"""The RL-NTM's tape environments and Gym's classic algorithmic environments."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import neuralprog.envs  # noqa: F401  (registers the env ids)
from neuralprog.envs.algorithmic import AlgorithmicEnv
from neuralprog.envs.tapes import BLANK, END, SLACK, TapeBatch
from neuralprog.registry import tape_task, tape_tasks

TAPE_TASKS = {t.name: t for t in tape_tasks()}
TAPE_IDS = [t.env_id for t in TAPE_TASKS.values()]
GYM_IDS = [f"neuralprog/gym-{name}-v0" for name in AlgorithmicEnv.TASKS]


@pytest.mark.parametrize("env_id", TAPE_IDS + GYM_IDS)
def test_env_checker_passes(env_id):
    check_env(gym.make(env_id).unwrapped, skip_render_check=False)


@pytest.mark.parametrize("name", list(TAPE_TASKS))
def test_reference_solution_reads_each_target_and_ends_within_the_bound(name):
    """Driving the env with the task's reference actions emits every target, and at each emitting step
    the head is on the symbol to emit (for ForwardReverse: the memory cell holds it)."""
    task = TAPE_TASKS[name]
    rng = np.random.default_rng(0)
    env = gym.make(task.env_id).unwrapped
    for size in range(1, 9):
        problem = task.sample(rng, size)
        assert task.parse(problem) == problem and task.size(problem) == size
        reference = task.reference(problem)
        assert len(reference) == task.steps(np.asarray([size]), np.asarray([problem.get("repeat", 1)]))[0]
        obs, info = env.reset(options=problem)
        for step, (input_move, memory_move, advance) in enumerate(reference):
            target = info["target"][len(info["emitted"])]
            if advance and task.memory:
                held = int(np.argmax(obs["memory"])) if obs["memory"].any() else END
                assert held == target
            elif advance:
                assert obs["input"] == target or (target == END and obs["input"] == BLANK)
            write = np.zeros(35, np.float32)
            if obs["input"] < END:
                write[obs["input"]] = 1.0
            action = {
                "input": input_move,
                "memory": memory_move,
                "output": advance,
                "symbol": target,
                "write": write,
            }
            obs, reward, terminated, truncated, info = env.step(action)
            assert reward == float(advance) and not truncated
            assert terminated == (step == len(reference) - 1)
        assert info["correct"] and info["emitted"] == task.target(problem)


def test_tasks_targets_and_tapes():
    copy, dup, rev, rep, fwd = (tape_task(n) for n in TAPE_TASKS)
    assert copy.input_tape({"input": [4, 17, 2]}) == [4, 17, 2, END] == copy.target({"input": [4, 17, 2]})
    assert dup.target({"input": [3, 3, 3, 9, 9, 9]}) == [3, 9, END]
    assert rev.target({"input": [4, 17, 2]}) == fwd.target({"input": [4, 17, 2]}) == [2, 17, 4, END]
    problem = {"input": [4, 17], "repeat": 3}
    assert rep.input_tape(problem) == [3, 4, 17, END] and rep.target(problem) == [4, 17] * 3 + [END]
    assert rep.expected(problem) == [4, 17] * 3
    assert not fwd.input_backward and fwd.memory and rep.top_size == 8 and copy.top_size == 20


def test_batched_tapes_equal_one_problem_at_a_time():
    rng = np.random.default_rng(1)
    for task in TAPE_TASKS.values():
        problems = [task.sample(rng, int(rng.integers(1, 12))) for _ in range(20)]
        tape, tape_len, target, target_len, bound = task.tapes(problems)
        for row, p in enumerate(problems):
            assert tape[row, : tape_len[row]].tolist() == task.input_tape(p)
            assert (tape[row, tape_len[row] :] == BLANK).all()
            assert target[row, : target_len[row]].tolist() == task.target(p)
            assert bound[row] == len(task.reference(p)) + SLACK


@pytest.mark.parametrize(
    "task,problem,message",
    [
        ("copy", {"input": []}, "empty"),
        ("copy", {"input": [3, 30]}, "0-29"),
        ("copy", {"input": [3, -1]}, "0-29"),
        ("copy", {"input": "3 14"}, "object like"),
        ("copy", [3, 14], "object like"),
        ("copy", {"input": [3], "speed": 2}, "unknown problem field"),
        ("duplicated-input", {"input": [3, 3, 9, 9]}, "triples"),
        ("duplicated-input", {"input": [3, 3, 3, 9, 9, 8]}, "triples"),
        ("repeat-copy", {"input": [4, 17, 2]}, "repeat"),
        ("repeat-copy", {"input": [4, 17, 2], "repeat": 4}, "repeat"),
        ("repeat-copy", {"input": [], "repeat": 2}, "empty"),
        ("copy", {"task": "forward-reverse", "input": [4, 17, 2]}, "'forward-reverse' problem"),
        ("repeat-copy", {"task": "forward-reverse", "input": [4, 17, 2]}, "'forward-reverse' problem"),
    ],
)
def test_bad_problems_are_rejected_with_a_clear_message(task, problem, message):
    with pytest.raises(ValueError, match=message):
        tape_task(task).parse(problem)


def test_forced_output_and_step_bound():
    """With nothing but 'stay' actions, the output head is forced to advance exactly when the steps left
    equal the targets left, and the episode ends at the bound."""
    env = gym.make("neuralprog/Copy-v0").unwrapped
    _, info = env.reset(options={"input": [4, 17, 2]})
    bound = info["steps_left"]
    assert bound == 4 + 2  # reference solution (4 steps) + slack
    stay = {"input": 1, "memory": 1, "output": 0, "symbol": 0, "write": np.zeros(35, np.float32)}
    forced = []
    for _ in range(bound):
        _, _, terminated, _, info = env.step(stay)
        forced.append(info["forced"])
    assert forced == [False, False, True, True, True, True] and terminated
    assert info["emitted"] == [0, 0, 0, 0] and not info["correct"]


def test_forward_reverse_input_head_never_moves_left():
    task = tape_task("forward-reverse")
    tapes = TapeBatch.of(task, [{"input": [1, 2, 3]}], cell_size=35)
    left = torch.zeros(1, dtype=torch.long)
    tapes.move(left, left, torch.zeros(1, dtype=torch.long))
    assert int(tapes.input_pos[0]) == 0 and int(tapes.memory_pos[0]) == -1


def test_heads_stay_within_one_blank_cell_of_the_tape():
    task = tape_task("reverse")
    tapes = TapeBatch.of(task, [{"input": [1, 2]}, {"input": [5] * 6}], window=2)
    move = torch.full((2,), 2)
    for _ in range(10):
        tapes.move(move, move, torch.zeros(2, dtype=torch.long))
    assert tapes.input_pos.tolist() == [3, 7]  # one past END of each problem's own tape
    assert tapes.read_input()[0].tolist() == [2, END, BLANK, BLANK, BLANK]


def test_tape_env_reset_is_deterministic_and_takes_a_size():
    env = gym.make("neuralprog/RepeatCopy-v0")
    _, a = env.reset(seed=3, options={"size": 6})
    _, b = env.reset(seed=3, options={"size": 6})
    assert a["input"] == b["input"] and len(a["input"]) == 6 and a["repeat"] in (2, 3)
    with pytest.raises(ValueError, match="repeat"):
        env.reset(options={"input": [1, 2]})


def test_tape_env_renders_the_tapes():
    env = gym.make("neuralprog/Reverse-v0", render_mode="ansi")
    env.reset(options={"input": [3, 1, 2]})
    text = env.render()
    assert "3  1  2  $" in text and "^" in text.splitlines()[1]


def test_gym_algorithmic_reward_and_time_limit_rules():
    env = gym.make("neuralprog/gym-Copy-v0").unwrapped
    obs, _ = env.reset(options={"input": [1, 4, 2]})
    assert obs == 1 and env.time_limit == 3 + 3 + 4
    obs, reward, terminated, truncated, _ = env.step((1, 1, 1))  # write 1, move right
    assert (obs, reward, terminated) == (4, 1.0, False)
    obs, reward, terminated, truncated, _ = env.step((0, 1, 3))  # wrong write ends the episode
    assert (reward, terminated, truncated) == (-0.5, True, False)

    env.reset(options={"input": [1, 4, 2]})
    for _ in range(env.time_limit):
        _, reward, terminated, truncated, _ = env.step((0, 0, 0))  # wander left, never write
        assert reward == 0.0 and not truncated
    _, reward, terminated, truncated, _ = env.step((0, 0, 0))
    assert (reward, truncated) == (-1.0, True)

    env.reset(options={"input": [1, 4, 2]})
    _, _, _, _, _ = env.step((0, 0, 0))
    assert env._observation() == env.base  # off the tape: blank


def test_gym_algorithmic_targets():
    def target(name, tape):
        env = gym.make(f"neuralprog/gym-{name}-v0").unwrapped
        return env.reset(options={"input": tape})[1]["target"]

    assert target("Reverse", [1, 0, 0]) == [0, 0, 1]
    assert target("RepeatCopy", [1, 2]) == [1, 2, 2, 1, 1, 2]
    assert target("DuplicatedInput", [3, 3, 1, 1]) == [3, 1]
    # 12 + 21 in base 3, least significant digit first: columns (2, 1), (1, 2) -> 0 1 1 (= 1 * 3 + 1 * 9)
    assert target("ReversedAddition", [[2, 1], [1, 2]]) == [0, 1, 1]
    assert target("ReversedAddition3", [[2, 2, 2]]) == [0, 2]
    with pytest.raises(ValueError, match="columns of 2"):
        target("ReversedAddition", [1, 2])


def test_gym_algorithmic_sizes_come_from_options_not_a_hidden_curriculum():
    env = gym.make("neuralprog/gym-DuplicatedInput-v0").unwrapped
    _, info = env.reset(seed=0, options={"size": 8})
    assert len(env.input) == 8 and len(info["target"]) == 4
    for _ in range(5):  # many solved episodes do not lengthen the next problem
        env.reset(seed=0)
        assert 2 <= len(env.input) <= 4
