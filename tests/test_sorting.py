import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from hypothesis import given, settings
from hypothesis import strategies as st

from neuralprog.envs.sorting import AT_END, AT_START, BLANK, MOVE, P2, RIGHT, SWAP, parse_sort
from neuralprog.registry import get_task
from neuralprog.traces import frames, record, replay, situations
from neuralprog.verify import verification_frames

arrays = st.lists(st.integers(0, 9), min_size=1, max_size=25)


def test_env_checker_passes():
    check_env(gym.make("neuralprog/BubbleSort-v0").unwrapped, skip_render_check=False)


def test_observation_actions_and_render():
    env = gym.make("neuralprog/BubbleSort-v0", render_mode="ansi")
    obs, info = env.reset(options={"array": [3, 1, 2]})
    assert obs.tolist() == [3, 3, AT_START, AT_START, AT_START]
    assert info["output"] == [3, 1, 2] and not info["correct"]
    obs, *_ = env.step([MOVE, P2, RIGHT])
    assert obs.tolist()[:2] == [3, 1]
    obs, _, _, _, info = env.step([SWAP, 0, 0])
    assert obs.tolist()[:2] == [1, 3] and info["output"] == [1, 3, 2]
    env.step([MOVE, P2, RIGHT])
    obs, *_ = env.step([MOVE, P2, RIGHT])  # onto the blank cell past the end
    assert obs[1] == BLANK
    obs, *_ = env.step([SWAP, 0, 0])  # a swap with the blank cell does nothing
    assert env.unwrapped._info()["output"] == [1, 3, 2]
    obs, *_ = env.step([MOVE, P2, RIGHT])  # pointers stop there
    assert obs[1] == BLANK
    assert "P3" in env.render()


def test_one_element_array_is_at_start_and_end():
    env = gym.make("neuralprog/BubbleSort-v0")
    obs, info = env.reset(options={"array": [7]})
    assert obs.tolist() == [7, 7, 3, 3, 3] and info["correct"]
    assert AT_START | AT_END == 3


@pytest.mark.parametrize("name", ["sort", "sort-recursive"])
@settings(max_examples=60, deadline=None)
@given(array=arrays)
def test_oracle_sorts(name, array):
    task = get_task(name)
    trace = record(task, {"array": array})
    assert replay(task, trace) == sorted(array)
    assert len(trace.steps) <= task.step_budget(trace.problem) // 2


def test_recursive_frames_stay_short_and_programs_call_themselves():
    task = get_task("sort-recursive")
    trace = record(task, {"array": list(np.random.default_rng(0).integers(0, 10, 30))})
    assert max(len(f.end) for f in frames(task, trace)) <= 5
    assert {s.program for s in trace.steps if s.next == s.program} == {"BUBBLESORT", "BSTEP", "RESET"}
    assert max(s.depth for s in trace.steps) < task.depth_budget(trace.problem)


@pytest.mark.parametrize(
    ("problem", "message"),
    [
        ({"array": []}, "non-empty"),
        ({"array": [1, "2"]}, "entry 1"),
        ({"array": [1, 10]}, "entry 1"),
        ({"array": [-1]}, "entry 0"),
        ({"array": [1.5]}, "entry 0"),
        ({"array": [True]}, "entry 0"),
        ({"array": "312"}, "non-empty list"),
        ({"values": [1]}, "array"),
        ([3, 1], "array"),
    ],
)
def test_invalid_arrays_get_clear_errors(problem, message):
    with pytest.raises(ValueError, match=message):
        parse_sort(problem)


@pytest.mark.slow
def test_verification_set_covers_every_situation_of_long_arrays():
    task = get_task("sort-recursive")
    _, frame_list = verification_frames(task)  # cached: the verify tests build the same set
    covered = situations(frame_list)
    rng = np.random.default_rng(1)
    for length in [5, 8, 13, 21, 30, 40] * 5:
        assert situations(frames(task, record(task, task.sample(rng, length)))) <= covered


def test_non_recursive_tasks_have_no_verification_set():
    for name in ("sort", "addition"):
        with pytest.raises(ValueError, match="no finite set"):
            get_task(name).verification_problems()


@settings(max_examples=40, deadline=None)
@given(arrays)
def test_max_oracle_finds_the_maximum_with_every_rshift_in_a_layout_sorting_shows(array):
    """RSHIFT is frozen when MAX is learned (`extend`): BUBBLESORT's last sweep leaves P1 on the last cell
    and P2 past it, so RJMP has nothing to shift, and sorting itself shifts with P3 on the last cell."""
    task = get_task("max")
    trace = record(task, {"array": array})
    assert replay(task, trace) == max(array)
    rshift = task.programs.names.index("RSHIFT")
    sort_trace = record(get_task("sort"), {"array": array})
    assert [s.obs for s in trace.steps if s.program == "RSHIFT"] == [
        s.obs for s in sort_trace.steps if s.program == "RSHIFT"
    ]
    if len(array) > 1:
        assert any(f.obs[0][4] & AT_END for f in frames(task, trace) if f.program == rshift)
