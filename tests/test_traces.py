import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neuralprog.traces import (
    TraceFormatError,
    distinct_frames,
    frame_key,
    frames,
    read_traces,
    record,
    record_all,
    replay,
    write_traces,
)

digits = st.text(alphabet="0123456789", min_size=1, max_size=60)


@settings(max_examples=150, deadline=None)
@given(a=digits, b=digits)
def test_replaying_primitive_actions_gives_the_exact_sum(addition, a, b):
    trace = record(addition, {"a": a, "b": b})
    assert replay(addition, trace) == addition.expected(trace.problem)
    assert replay(addition, trace).lstrip("0") == str(int(a) + int(b)).lstrip("0")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("9" * 200, "1"),
        ("1", "9" * 200),
        ("0", "0"),
        ("000", "0"),
        ("5", "5"),
        ("99999", "99999"),
        ("1" * 50, "8" * 3),
    ],
)
def test_replay_edge_cases(addition, a, b):
    trace = record(addition, {"a": a, "b": b})
    assert replay(addition, trace) == addition.expected({"a": a, "b": b})


def test_trace_structure_matches_the_paper(addition):
    steps = record(addition, {"a": "96", "b": "25"}).steps
    assert steps[0].program == "ADD" and steps[0].depth == 0 and steps[0].next == "ADD1"
    assert steps[-1].program == "ADD" and steps[-1].end
    calls = {(s.program, s.next) for s in steps if s.next}
    assert calls == {
        ("ADD", "ADD1"),
        ("ADD", "LSHIFT"),
        ("ADD1", "ACT"),
        ("ADD1", "CARRY"),
        ("CARRY", "ACT"),
        ("LSHIFT", "ACT"),
    }


def test_frames_are_independent_sequences(addition):
    trace = record(addition, {"a": "96", "b": "25"})
    fs = frames(addition, trace)
    names = [addition.programs.names[f.program] for f in fs]
    assert names.count("ADD") == 1 and names.count("ADD1") == 3 and names.count("CARRY") == 2
    assert sum(len(f.end) for f in fs) == len(trace.steps)
    assert all(f.end[-1] and not f.end[:-1].any() for f in fs)


@pytest.mark.parametrize("name", ["addition", "sort", "addition-recursive", "sort-recursive", "multitask"])
def test_traces_recorded_together_are_those_recorded_one_by_one(name):
    """`record_all` runs every problem's oracle in lockstep on one machine: problems of other sizes (and,
    in a multitask, of other tasks) sharing that machine change nothing in any trace."""
    import numpy as np

    from neuralprog.registry import program_task

    task = program_task(name)
    rng = np.random.default_rng(5)
    problems = [task.sample(rng, size) for size in (1, 7, 2, 12, 3, 3)]
    together = record_all(task, problems, seed=9)
    assert [t.problem for t in together] == [task.parse(p) for p in problems]
    for trace, problem in zip(together, problems, strict=True):
        alone = record(task, problem, seed=9)
        assert trace.steps == alone.steps and trace.seed == 9
        assert replay(task, trace) == task.expected(task.parse(problem))


@pytest.mark.parametrize("name", ["addition-recursive", "sort-recursive", "multitask"])
def test_distinct_frames_are_the_frames_without_duplicates_in_order_of_first_appearance(name):
    """`distinct_frames` finds duplicates on the steps; the frames it keeps, and the trace each comes
    from, are those that deduplicating every frame by `frame_key` keeps."""
    import numpy as np

    from neuralprog.registry import program_task

    task = program_task(name)
    rng = np.random.default_rng(3)
    traces = record_all(task, [task.sample(rng, size) for size in (1, 2, 2, 3, 1, 3, 2, 4) for _ in range(5)])
    expected: dict[bytes, int] = {}
    for i, trace in enumerate(traces):
        for frame in frames(task, trace):
            expected.setdefault(frame_key(frame), i)
    kept, first = distinct_frames(task, traces)
    assert [frame_key(f) for f in kept] == list(expected)
    assert first == list(expected.values())
    assert len(kept) < sum(len(frames(task, t)) for t in traces)  # there were duplicates to drop


def test_write_read_roundtrip(addition, tmp_path):
    traces = [record(addition, {"a": "96", "b": "25"}, seed=1), record(addition, {"a": "1", "b": "999"})]
    path = tmp_path / "t.jsonl"
    write_traces(path, traces)
    back = read_traces(path, addition)
    assert [t.problem for t in back] == [t.problem for t in traces]
    assert [t.steps for t in back] == [t.steps for t in traces]


def _lines(addition):
    return [json.loads(line) for line in _dump(addition)]


def _dump(addition):
    from neuralprog.traces import trace_lines

    return list(trace_lines(record(addition, {"a": "96", "b": "25"})))


@pytest.mark.parametrize(
    ("mutate", "line", "message"),
    [
        (lambda ls: ls.__setitem__(3, "{not json"), 4, "not valid JSON"),
        (lambda ls: ls.__setitem__(2, ls[2].replace('"ADD1"', '"ADD7"')), 3, "unknown program"),
        (lambda ls: ls.__setitem__(5, ls[5].replace('"obs": [', '"obs": [99, ')), 6, "obs"),
        (lambda ls: ls.__setitem__(0, ls[0].replace('"version": 1', '"version": 9')), 1, "version"),
        (lambda ls: ls.__setitem__(0, ls[0].replace('"addition"', '"nosuchtask"')), 1, "unknown task"),
        (lambda ls: ls.__delitem__(3), 4, "expected"),
    ],
)
def test_malformed_trace_files_name_the_line(addition, tmp_path, mutate, line, message):
    lines = _dump(addition)
    mutate(lines)
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(TraceFormatError, match=rf"bad.jsonl:{line}: .*{message}"):
        read_traces(path)


def test_truncated_and_empty_trace_files(addition, tmp_path):
    path = tmp_path / "cut.jsonl"
    path.write_text("\n".join(_dump(addition)[:10]) + "\n")
    with pytest.raises(TraceFormatError, match="ends inside a trace"):
        read_traces(path)
    path.write_text("")
    with pytest.raises(TraceFormatError, match="no traces"):
        read_traces(path)
