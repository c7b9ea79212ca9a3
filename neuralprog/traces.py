"""Execution traces: recorded from an oracle, split into call frames, replayed, stored as JSONL.

File format (one JSON object per line; a file may hold many traces, each starting with its header):

    {"format": "neuralprog-trace", "version": 1, "task": "addition", "env": "neuralprog/Addition-v0",
     "problem": {"a": "96", "b": "25"}, "seed": 0}
    {"depth": 0, "program": "ADD", "args": [0, 0, 0], "obs": [6, 5, 10, 10], "next": "ADD1",
     "next_args": [0, 0, 0], "end": false}
    ...
    {"depth": 0, "program": "ADD", "args": [0, 0, 0], "obs": [...], "next": null, "next_args": [0, 0, 0],
     "end": true}

A step is one model step of the frame on top of the call stack: what it saw (`obs`, its own program and
args) and what it did (call `next` with `next_args`, or return when `end`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neuralprog.registry import program_task
from neuralprog.tasks import Task

FORMAT = "neuralprog-trace"
VERSION = 1

Args = tuple[int, ...]


@dataclass(frozen=True)
class Step:
    depth: int
    program: str
    args: Args
    obs: tuple  # ints for discrete observation fields, floats for real-valued ones
    next: str | None
    next_args: Args
    end: bool


@dataclass
class Trace:
    task: str
    env: str
    problem: dict
    seed: int | None = None
    steps: list[Step] = field(default_factory=list)


@dataclass(frozen=True)
class Frame:
    """One call frame as a training sequence: a program, its args, and T steps."""

    program: int
    args: Args
    env: int  # which environment (encoder) the frame's observations come from
    obs: np.ndarray  # (T, F) int64 for discrete observations, float32 for real-valued ones
    next_program: np.ndarray  # (T,) int64, -1 where the step returns
    next_args: np.ndarray  # (T, 3) int64
    end: np.ndarray  # (T,) bool


def frame_key(frame: Frame) -> bytes:
    """What makes two frames the same training sequence: program, environment, arguments, observations
    and targets."""
    head = np.asarray([frame.program, frame.env, *frame.args], dtype=np.int64)
    parts = (head, frame.obs, frame.next_program, frame.next_args, frame.end)
    return b"|".join(np.ascontiguousarray(a).tobytes() for a in parts)


class Recorder:
    """What an oracle reads while it runs on one problem: the problem and the current observation.

    An oracle program is a generator: it reads `rec.obs()` and yields the calls it makes, either a
    program name or a (name, args) pair; returning ends the program. `record_all` keeps each problem's
    call stack itself, so recursive programs can go thousands of calls deep without Python recursion.
    """

    def __init__(self, problem: dict, fields: int):
        self.problem = problem
        self.fields = fields
        """Observation fields of this problem's environment (a multitask machine pads to its widest)."""
        self.current: tuple = ()

    def obs(self) -> tuple:
        return self.current


def record(task: Task, problem: dict, seed: int | None = None) -> Trace:
    """The oracle's trace for one problem."""
    return record_all(task, [problem], seed)[0]


def record_all(task: Task, problems: list[dict], seed: int | None = None) -> list[Trace]:
    """The oracle's traces for many problems, recorded in lockstep on one machine: each round observes
    every unfinished problem with one call, runs each one's oracle up to its next action (calls and
    returns leave the machine as it is), then applies all those actions with one call. Sorting's 1,216
    training traces took 77 s one by one, mostly in per-step numpy calls."""
    problems = [task.parse(p) for p in problems]
    if not problems:
        return []
    machine = task.machine(problems)
    oracle, programs = task.oracle, task.programs
    no_args = programs.no_args
    primitive = {p.name: p.primitive for p in programs.programs}
    recorders = [Recorder(p, len(task.obs_specs[task.env_index(p)].names)) for p in problems]
    stacks = []
    for problem, rec in zip(problems, recorders, strict=True):
        root = task.root_of(problem)
        stacks.append([(root, no_args, oracle[root](rec, no_args))])
    steps: list[list[Step]] = [[] for _ in problems]
    live = list(range(len(problems)))
    while live:
        observed = machine.observe()
        rows, actions = [], []
        for i in live:
            rec, stack, out = recorders[i], stacks[i], steps[i]
            rec.current = tuple(observed[i, : rec.fields].tolist())
            while stack:
                program, args, calls = stack[-1]
                call = next(calls, None)
                if call is None:
                    out.append(Step(len(stack) - 1, program, args, rec.current, None, no_args, True))
                    stack.pop()
                    continue
                name, call_args = (call, no_args) if isinstance(call, str) else call
                call_args = tuple(int(a) for a in call_args)
                if name not in primitive:
                    raise ValueError(f"the oracle of {program} calls unknown program {name!r}")
                out.append(Step(len(stack) - 1, program, args, rec.current, name, call_args, False))
                if primitive[name]:
                    rows.append(i)
                    actions.append(call_args)
                    break
                stack.append((name, call_args, oracle[name](rec, call_args)))
        if rows:
            machine.act(np.asarray(rows, dtype=np.int64), np.asarray(actions, dtype=np.int64))
        live = [i for i in live if stacks[i]]
    return [Trace(task.name, task.env_id, p, seed, out) for p, out in zip(problems, steps, strict=True)]


def generate(
    task: Task,
    sizes: Iterable[int],
    per_size: int,
    seed: int,
    cover: int = 0,
    per_task: Iterable[tuple[str, int]] = (),
) -> list[Trace]:
    """`per_size` oracle traces for each size, from one seeded generator.

    With `per_task` (task name, traces per size), a multitask's traces are those of each of its tasks in
    turn, each task's drawn (and covered) on its own: as many per size as `per_task` says, else
    `per_size`.

    With `cover` > 0, each size's traces are picked from `cover` random candidates, greedily: each pick
    is the candidate whose call frames start from the most situations (program, arguments, first
    observation) the set lacks. A small set then sees (nearly) every digit pair of every program.
    (Counting every step instead would favour problems with more work to do: only unsorted pairs.)"""
    parts, counts = getattr(task, "parts", None), dict(per_task)
    if counts and parts:
        unknown = set(counts) - set(parts)
        if unknown:
            raise ValueError(f"data.per_task names tasks {sorted(unknown)} that {task.name} does not have")
        sizes = list(sizes)
        return [
            trace
            for name in parts
            for trace in generate(task.only(name), sizes, counts.get(name, per_size), seed, cover)  # type: ignore[attr-defined]
        ]
    rng = np.random.default_rng(seed)
    if not cover:
        return record_all(task, [task.sample(rng, size) for size in sizes for _ in range(per_size)], seed)
    traces: list[Trace] = []
    seen: set = set()
    for size in sizes:
        pool = record_all(task, [task.sample(rng, size) for _ in range(max(cover, per_size))], seed)
        starts = [{(f.program, f.args, f.obs[0].tobytes()) for f in frames(task, t)} for t in pool]
        for _ in range(per_size):
            best = max(range(len(pool)), key=lambda i: len(starts[i] - seen))
            traces.append(pool.pop(best))
            seen |= starts.pop(best)
    return traces


def situations(frame_list: Iterable[Frame]) -> set[tuple]:
    """The frames' step situations: (program, args, step index in its frame, observation)."""
    return {
        (int(f.program), f.args, t, tuple(f.obs[t].tolist())) for f in frame_list for t in range(len(f.end))
    }


def replay(task: Task, trace: Trace) -> Any:
    """Apply only the trace's primitive actions to a fresh machine and return its output."""
    machine = task.machine([task.parse(trace.problem)])
    row = np.zeros(1, dtype=np.int64)
    for step in trace.steps:
        if step.next is not None and task.programs[step.next].primitive:
            machine.act(row, np.asarray([step.next_args], dtype=np.int64))
    return machine.outputs()[0]


def frames(task: Task, trace: Trace) -> list[Frame]:
    """Split a trace into its call frames (each an independent sequence from a zero state)."""
    ids = {name: i for i, name in enumerate(task.programs.names)}
    env = task.env_index(trace.problem)
    return [_frame(task, env, steps, ids) for steps in _frame_steps(trace)]


def distinct_frames(task: Task, traces: list[Trace]) -> tuple[list[Frame], list[int]]:
    """The distinct call frames of `traces` in order of first appearance, and the index of the trace
    each first appears in. Duplicates are found on the steps, before any array is built: the 311,248
    frames of recursive addition's verification traces hold 49,626 distinct ones."""
    ids = {name: i for i, name in enumerate(task.programs.names)}
    unique: dict[tuple, tuple[Frame, int]] = {}
    for i, trace in enumerate(traces):
        env = task.env_index(trace.problem)
        for steps in _frame_steps(trace):
            key = (env, steps[0].program, steps[0].args, *((s.obs, s.next, s.next_args) for s in steps))
            if key not in unique:  # a frame's steps end exactly at its return, so `end` is implied
                unique[key] = (_frame(task, env, steps, ids), i)
    return [f for f, _ in unique.values()], [i for _, i in unique.values()]


def _frame_steps(trace: Trace) -> list[list[Step]]:
    """A trace's steps grouped by call frame, in the order the frames return."""
    open_frames: list[list[Step]] = []
    done: list[list[Step]] = []
    for step in trace.steps:
        if step.depth == len(open_frames):
            open_frames.append([])
        open_frames[step.depth].append(step)
        if step.end:
            done.append(open_frames.pop())
    return done


def _frame(task: Task, env: int, steps: list[Step], ids: dict[str, int]) -> Frame:
    """One call frame's steps as arrays (`env`: the environment of its trace's problem)."""
    obs_dtype = np.int64 if task.obs_specs[env].discrete else np.float32
    return Frame(
        program=ids[steps[0].program],
        args=steps[0].args,
        env=env,
        obs=np.asarray([s.obs for s in steps], dtype=obs_dtype),
        next_program=np.asarray([-1 if s.next is None else ids[s.next] for s in steps], dtype=np.int64),
        next_args=np.asarray([s.next_args for s in steps], dtype=np.int64),
        end=np.asarray([s.end for s in steps], dtype=bool),
    )


# ---------------------------------------------------------------------------------------------------
# JSONL


def trace_lines(trace: Trace) -> Iterator[str]:
    header = {
        "format": FORMAT,
        "version": VERSION,
        "task": trace.task,
        "env": trace.env,
        "problem": trace.problem,
        "seed": trace.seed,
    }
    yield json.dumps(header)
    for s in trace.steps:
        yield json.dumps(
            {
                "depth": s.depth,
                "program": s.program,
                "args": list(s.args),
                "obs": list(s.obs),
                "next": s.next,
                "next_args": list(s.next_args),
                "end": s.end,
            }
        )


def write_traces(path: str | Path, traces: Iterable[Trace]) -> None:
    """Write traces to a JSONL file atomically (a temp file renamed into place)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w") as f:
        for trace in traces:
            for line in trace_lines(trace):
                f.write(line + "\n")
    tmp.replace(path)


class TraceFormatError(ValueError):
    """A trace file that does not follow the format; the message names the file and line."""


def read_traces(path: str | Path, task: Task | None = None) -> list[Trace]:
    """Read and validate a JSONL trace file against the task's specs (program set, argument spec,
    observation spec). With `task`, every trace must belong to it."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        raise TraceFormatError(f"cannot read trace file {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise TraceFormatError(f"{path} is not a text (JSONL) trace file") from None
    traces: list[Trace] = []
    checker: _StepChecker | None = None
    for number, line in enumerate(lines, start=1):
        where = f"{path}:{number}"
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as e:
            raise TraceFormatError(f"{where}: not valid JSON ({e.msg})") from None
        if not isinstance(item, dict):
            raise TraceFormatError(f"{where}: expected a JSON object")
        try:
            if "format" in item:
                if checker is not None and not checker.finished:
                    raise ValueError("new trace header before the previous trace returned from its root")
                trace_task = _check_header(item, task)
                trace = Trace(item["task"], item["env"], trace_task.parse(item["problem"]), item.get("seed"))
                traces.append(trace)
                checker = _StepChecker(trace_task, trace.problem)
            else:
                if checker is None:
                    raise ValueError("step before any trace header")
                traces[-1].steps.append(checker.check(item))
        except (ValueError, KeyError, TypeError) as e:
            message = str(e) if isinstance(e, ValueError) else f"bad field {e}"
            raise TraceFormatError(f"{where}: {message}") from None
    if checker is None:
        raise TraceFormatError(f"{path}: no traces in file")
    if not checker.finished:
        raise TraceFormatError(f"{path}:{len(lines)}: file ends inside a trace (root program never returned)")
    return traces


def _check_header(item: dict, task: Task | None) -> Task:
    if item["format"] != FORMAT:
        raise ValueError(f"unknown format {item['format']!r}, expected {FORMAT!r}")
    if item.get("version") != VERSION:
        raise ValueError(f"unsupported trace version {item.get('version')!r}, expected {VERSION}")
    named = str(item.get("task"))
    trace_task = task if task is not None and named == task.name else program_task(named)
    if task is not None and trace_task.name != task.name:
        raise ValueError(f"trace is for task {trace_task.name!r}, expected {task.name!r}")
    if item.get("env") != trace_task.env_id:
        raise ValueError(f"env {item.get('env')!r} does not match task {trace_task.name!r}")
    return trace_task


class _StepChecker:
    """Checks that step lines form a well-nested execution of the task's programs."""

    def __init__(self, task: Task, problem: dict):
        self.task = task
        self.stack: list[tuple[str, Args]] = []
        self.expect_call: tuple[str, Args] | None = (task.root_of(problem), task.programs.no_args)
        self.obs_spec = task.obs_specs[task.env_index(problem)]
        self.finished = False

    def check(self, item: dict) -> Step:
        programs = self.task.programs
        if self.finished:
            raise ValueError("step after the root program returned (missing header?)")
        step = Step(
            depth=_int(item["depth"], "depth"),
            program=_name(item["program"], programs.names),
            args=programs.check_args(item["args"], "args"),
            obs=self.obs_spec.check(item["obs"]),
            next=None if item["next"] is None else _name(item["next"], programs.names),
            next_args=programs.check_args(item["next_args"], "next_args"),
            end=_bool(item["end"]),
        )
        if self.expect_call is not None:  # first step of a new frame
            if step.depth != len(self.stack) or (step.program, step.args) != self.expect_call:
                raise ValueError(
                    f"expected the first step of {self.expect_call[0]} at depth {len(self.stack)}, "
                    f"got {step.program} at depth {step.depth}"
                )
            self.stack.append(self.expect_call)
            self.expect_call = None
        elif (step.depth, step.program, step.args) != (len(self.stack) - 1, *self.stack[-1]):
            raise ValueError(
                f"expected a step of {self.stack[-1][0]} at depth {len(self.stack) - 1}, "
                f"got {step.program} at depth {step.depth}"
            )
        if step.end:
            if step.next is not None:
                raise ValueError("a returning step (end=true) must have next=null")
            self.stack.pop()
            self.finished = not self.stack
        else:
            if step.next is None:
                raise ValueError("a step that does not return (end=false) needs a next program")
            caller = programs[step.program]
            if step.next not in caller.calls:
                raise ValueError(f"{step.program} may not call {step.next}")
            if not programs[step.next].primitive:
                self.expect_call = (step.next, step.next_args)
        return step


def _int(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"end must be true or false, got {value!r}")
    return value


def _name(value: Any, names: list[str]) -> str:
    if value not in names:
        raise ValueError(f"unknown program {value!r}")
    return value
