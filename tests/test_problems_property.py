"""Property tests of every task's problems, in the JSON form users give them.

Well-formed problems parse, their oracle solution (an NPI trace; a tape task's reference moves) replayed
on a fresh machine gives exactly `task.expected(problem)`, and NPI traces survive a JSONL round trip.
Malformed problems (not objects, missing or unknown fields, wrong types, out-of-range or negative
values, junk in the values) raise ValueError with a one-line message, never another exception.
"""

import tempfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neuralprog.envs.cars.render import AZIMUTHS, ELEVATIONS
from neuralprog.envs.tapes import BLANK, END, SYMBOLS
from neuralprog.registry import get_task, program_tasks, tape_task, tape_tasks
from neuralprog.traces import read_traces, record, replay, write_traces

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------------------------------------------
# Well-formed problems, per task.

digit_strings = st.text(alphabet="0123456789", min_size=1, max_size=12)
digit_arrays = st.lists(st.integers(0, 9), min_size=1, max_size=8)
addition_problems = st.fixed_dictionaries({"a": digit_strings, "b": digit_strings})
sort_problems = st.fixed_dictionaries({"array": digit_arrays})


def _tagged(task: str, problems: st.SearchStrategy) -> st.SearchStrategy:
    return problems.map(lambda p: {"task": task, **p})


POSE_KEYS = {
    "azimuth": AZIMUTHS,
    "elevation": ELEVATIONS,
    "target_azimuth": AZIMUTHS,
    "target_elevation": ELEVATIONS,
}
cars_problems = st.fixed_dictionaries(
    {"model": st.integers(0, 99), **{key: st.sampled_from(grid) for key, grid in POSE_KEYS.items()}}
)


NPI_PROBLEMS = {
    "addition": addition_problems,
    "addition-recursive": addition_problems,
    "sort": sort_problems,
    "sort-recursive": sort_problems,
    "max": sort_problems,
    "multitask": st.one_of(_tagged("addition", addition_problems), _tagged("sort", sort_problems)),
    "multitask-max": st.one_of(
        _tagged("addition", addition_problems), _tagged("sort", sort_problems), _tagged("max", sort_problems)
    ),
    "cars": cars_problems,
    "cars-32": cars_problems,
    "cars-128": cars_problems,
    "multitask-cars": st.one_of(
        _tagged("addition", addition_problems), _tagged("sort", sort_problems), _tagged("cars", cars_problems)
    ),
    "multitask-cars-max": st.one_of(
        _tagged("cars", cars_problems), _tagged("max", sort_problems), _tagged("sort", sort_problems)
    ),
}
symbols = st.lists(st.integers(0, SYMBOLS - 1), min_size=1, max_size=8)
TAPE_PROBLEMS = {
    "copy": st.fixed_dictionaries({"input": symbols}),
    "duplicated-input": symbols.map(lambda xs: {"input": [x for x in xs for _ in range(3)]}),
    "reverse": st.fixed_dictionaries({"input": symbols}),
    "repeat-copy": st.fixed_dictionaries(
        {
            "input": st.lists(st.integers(0, SYMBOLS - 1), min_size=1, max_size=6),
            "repeat": st.sampled_from([2, 3]),
        }
    ),
    "forward-reverse": st.fixed_dictionaries({"input": symbols}),
}


def test_every_task_has_problem_strategies():
    assert set(NPI_PROBLEMS) == {t.name for t in program_tasks()}
    assert set(TAPE_PROBLEMS) == {t.name for t in tape_tasks()}


@pytest.mark.parametrize("name", sorted(NPI_PROBLEMS))
@FAST
@given(data=st.data())
def test_npi_oracle_traces_replay_to_the_expected_answer(name, data):
    task = get_task(name)
    problem = data.draw(NPI_PROBLEMS[name])
    assert task.parse(problem) == problem  # already canonical
    trace = record(task, problem)
    answer = replay(task, trace)
    assert answer == task.expected(problem)
    if "array" in problem:  # the answer checked against Python, not only against the task's own rule
        part = problem.get("task", name)
        assert answer == (max(problem["array"]) if part == "max" else sorted(problem["array"]))
    elif "model" in problem:  # cars: the camera ends at the target pose
        assert answer == {"azimuth": problem["target_azimuth"], "elevation": problem["target_elevation"]}
    else:
        assert int(answer) == int(problem["a"]) + int(problem["b"])
    assert len(trace.steps) <= task.step_budget(problem)


@pytest.mark.parametrize("name", sorted(NPI_PROBLEMS))
@settings(max_examples=5, deadline=None)
@given(data=st.data())
def test_npi_traces_round_trip_through_jsonl(name, data):
    task = get_task(name)
    problems = data.draw(st.lists(NPI_PROBLEMS[name], min_size=1, max_size=3))
    traces = [record(task, p, seed=i) for i, p in enumerate(problems)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.jsonl"
        write_traces(path, traces)
        back = read_traces(path, task)
    assert [(t.problem, t.seed, t.steps) for t in back] == [(t.problem, t.seed, t.steps) for t in traces]
    assert [replay(task, t) for t in back] == [task.expected(p) for p in problems]


def _replay_reference(name: str, problem: dict) -> list[int]:
    """Drive the task's env with its reference moves, emitting at each advance what the heads read (the
    input symbol; with a memory tape, the cell the moves stored it in, written one-hot), never the target:
    the emitted answer comes from the moves alone."""
    task = tape_task(name)
    env = gym.make(task.env_id).unwrapped
    obs, info = env.reset(options=problem)
    terminated = False
    for input_move, memory_move, advance in task.reference(problem):
        assert not terminated
        if task.memory:
            held = int(np.argmax(obs["memory"])) if obs["memory"].any() else END
        else:
            held = END if obs["input"] == BLANK else int(obs["input"])
        write = np.zeros(env.cell_size, np.float32)
        if obs["input"] < END:
            write[obs["input"]] = 1.0
        action = {
            "input": input_move,
            "memory": memory_move,
            "output": advance,
            "symbol": held,
            "write": write,
        }
        obs, _, terminated, _, info = env.step(action)
    assert terminated and not info["forced"]
    return task.answer(info["emitted"])


@pytest.mark.parametrize("name", list(TAPE_PROBLEMS))
@FAST
@given(data=st.data())
def test_tape_reference_solutions_replay_to_the_expected_answer(name, data):
    task = tape_task(name)
    problem = data.draw(TAPE_PROBLEMS[name])
    assert task.parse(problem) == problem
    assert task.parse({**problem, "task": name}) == problem  # a problem may name its own task
    answer = _replay_reference(name, problem)
    assert answer == task.expected(problem)
    phrase = problem["input"][::3] if name == "duplicated-input" else problem["input"]
    python = {
        "copy": phrase,
        "duplicated-input": phrase,
        "reverse": phrase[::-1],
        "forward-reverse": phrase[::-1],
        "repeat-copy": phrase * problem.get("repeat", 1),
    }
    assert answer == python[name]


# ---------------------------------------------------------------------------------------------------
# Malformed problems.

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**6), 10**6), st.floats(allow_nan=False), st.text(max_size=8)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
not_objects = json_values.filter(lambda v: not isinstance(v, dict))
junk_keys = st.text(min_size=1, max_size=6).filter(
    lambda k: k not in ("a", "b", "array", "input", "task", "repeat")
)


def _with(problem: st.SearchStrategy, key: str, value: st.SearchStrategy) -> st.SearchStrategy:
    return st.tuples(problem, value).map(lambda pv: {**pv[0], key: pv[1]})


def _without(problem: st.SearchStrategy, key: str) -> st.SearchStrategy:
    return problem.map(lambda p: {k: v for k, v in p.items() if k != key})


def _is_operand(value) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return value >= 0
    return isinstance(value, str) and value.isascii() and value.isdigit()


bad_operands = st.one_of(
    json_values.filter(lambda v: not _is_operand(v)),
    st.just(""),
    st.integers(max_value=-1),
    st.tuples(digit_strings, st.sampled_from(["-", "+", " ", "x", ".", "٣", "e"]), st.integers(0, 12)).map(
        lambda t: t[0][: t[2]] + t[1] + t[0][t[2] :]  # junk inside the digits
    ),
)
bad_addition = st.one_of(
    not_objects,
    _without(addition_problems, "a"),
    _without(addition_problems, "b"),
    st.builds(dict),
    _with(addition_problems, "a", bad_operands),
    _with(addition_problems, "b", bad_operands),
)
bad_entries = st.one_of(
    st.integers(10, 10**6),
    st.integers(-(10**6), -1),
    json_values.filter(lambda v: not (type(v) is int and 0 <= v <= 9)),
)
bad_arrays = st.one_of(
    json_values.filter(lambda v: not isinstance(v, list)),
    st.just([]),
    st.tuples(digit_arrays, bad_entries, st.integers(0, 8)).map(
        lambda t: [*t[0][: t[2]], t[1], *t[0][t[2] :]]
    ),
)
bad_sort = st.one_of(
    not_objects,
    st.builds(dict),
    _without(_with(sort_problems, "values", digit_arrays), "array"),
    _with(sort_problems, "array", bad_arrays),
)


def _hashable(value) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _bad_multitask(parts: list[str]) -> st.SearchStrategy:
    good = st.one_of(_tagged("addition", addition_problems), _tagged("sort", sort_problems))
    bad_names = json_values.filter(lambda v: not _hashable(v) or v not in parts)
    return st.one_of(
        not_objects,
        addition_problems,  # no task named
        sort_problems,
        _with(good, "task", bad_names),
        _tagged("addition", bad_addition.filter(lambda p: isinstance(p, dict) and "task" not in p)),
        _tagged("sort", bad_sort.filter(lambda p: isinstance(p, dict) and "task" not in p)),
    )


bad_cars = st.one_of(
    not_objects,
    *[_without(cars_problems, key) for key in ("model", *POSE_KEYS)],
    _with(cars_problems, "model", json_values.filter(lambda v: type(v) is not int or not 0 <= v < 100)),
    *[
        _with(
            cars_problems,
            key,
            json_values.filter(lambda v, g=grid: type(v) is not int or (v not in g and v != 180)),
        )
        for key, grid in POSE_KEYS.items()
    ],
)

BAD_NPI = {
    "addition": bad_addition,
    "addition-recursive": bad_addition,
    "sort": bad_sort,
    "sort-recursive": bad_sort,
    "max": bad_sort,
    "multitask": _bad_multitask(["addition", "sort"]),
    "multitask-max": _bad_multitask(["addition", "sort", "max"]),
    "cars": bad_cars,
    "cars-32": bad_cars,
    "cars-128": bad_cars,
    "multitask-cars": _bad_multitask(["addition", "sort", "cars"]),
    "multitask-cars-max": _bad_multitask(["addition", "sort", "cars", "max"]),
}


def _bad_tape(name: str) -> st.SearchStrategy:
    good = TAPE_PROBLEMS[name]
    bad_symbols = st.one_of(
        st.integers(SYMBOLS, 10**6),
        st.integers(-(10**6), -1),
        json_values.filter(lambda v: not (type(v) is int and 0 <= v < SYMBOLS)),
    )
    bad_inputs = st.one_of(
        json_values.filter(lambda v: not isinstance(v, list)),
        st.just([]),
        st.tuples(symbols, bad_symbols, st.integers(0, 8)).map(
            lambda t: [*t[0][: t[2]], t[1], *t[0][t[2] :]]
        ),
    )
    cases = [
        not_objects,
        _without(good, "input"),
        _with(good, "input", bad_inputs),
        st.tuples(good, junk_keys, json_values).map(lambda t: {**t[0], t[1]: t[2]}),
        _with(good, "task", json_values.filter(lambda v: v != name)),
    ]
    if name == "repeat-copy":
        cases += [
            _without(good, "repeat"),
            _with(good, "repeat", json_values.filter(lambda v: type(v) is not int or v not in (2, 3))),
        ]
    if name == "duplicated-input":
        cases.append(  # a tape that is not made of triples
            symbols.filter(
                lambda xs: len(xs) % 3 or any(xs[i : i + 3] != [xs[i]] * 3 for i in range(0, len(xs), 3))
            ).map(lambda xs: {"input": xs})
        )
    return st.one_of(*cases)


BAD_TAPE = {t.name: _bad_tape(t.name) for t in tape_tasks()}


def _rejected_in_one_line(parse, problem) -> None:
    with pytest.raises(ValueError) as error:  # any other exception type fails the test
        parse(problem)
    message = str(error.value)
    assert message and "\n" not in message and len(message.splitlines()) == 1, message


@pytest.mark.parametrize("name", sorted(BAD_NPI))
@FAST
@given(data=st.data())
def test_malformed_npi_problems_raise_a_one_line_value_error(name, data):
    task = get_task(name)
    problem = data.draw(BAD_NPI[name])
    _rejected_in_one_line(task.parse, problem)
    _rejected_in_one_line(lambda p: record(task, p), problem)  # the oracle parses first


@pytest.mark.parametrize("name", sorted(BAD_TAPE))
@FAST
@given(data=st.data())
def test_malformed_tape_problems_raise_a_one_line_value_error(name, data):
    task = tape_task(name)
    problem = data.draw(BAD_TAPE[name])
    _rejected_in_one_line(task.parse, problem)


# Two cases the random strategies found once (they raised TypeError, or were accepted and failed later).


@pytest.mark.parametrize("task", [["sort"], {"name": "sort"}])
def test_an_unhashable_multitask_task_name_raises_value_error(task):
    _rejected_in_one_line(get_task("multitask").parse, {"task": task, "array": [1, 2]})


@pytest.mark.parametrize("repeat", [2.0, True])
def test_a_repeat_count_that_is_not_an_integer_is_rejected(repeat):
    _rejected_in_one_line(tape_task("repeat-copy").parse, {"input": [1, 2], "repeat": repeat})
