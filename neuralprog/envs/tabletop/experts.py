"""The expert: the authors' program hierarchy run on a batch of worlds, recorded as NTP traces.

    STACK -> PICK_PLACE(goal) -> PICK -> MOVE(src), MOVE_GRASP ; PLACE -> MOVE(dst), MOVE_DROP
    SORTING -> PICK_RELEASE(object) -> PICK -> MOVE(category), MOVE_GRASP ;
                                       RELEASE -> MOVE(container), MOVE_RELEASE

A demonstration (the task specification) is the list of frames of an expert run from another start:
the observation before the first API call and after each one. Every call hands its callee a contiguous
range of those frames: a goal's call gets [4g, 4g + 4], PICK the first half, PLACE the second, and an
API call the two frames around its own effect. The flat baseline's expert calls the API straight from
the root, which hands every call the whole demonstration.

A trace step records what the frame on top of the stack saw and did: its program and scope (the frame
range it was handed), the index of its observation (API calls made so far), and the call it made (with
the object argument and the scope it passed on) or its return.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neuralprog.envs.tabletop.tasks import TabletopTask
from neuralprog.envs.tabletop.video import VIEW, Video
from neuralprog.envs.tabletop.world import MOVE, MOVE_GRASP, KinematicWorld

FORMAT = "neuralprog-ntp-trace"
VERSION = 1
PER_GOAL = 4
"""API calls per goal: move, grasp, move, let go."""


@dataclass(frozen=True)
class Step:
    depth: int
    program: str
    scope: tuple[int, int]
    """The demonstration frames [first, last] this call was handed."""
    obs: int
    """Which observation the step saw: the number of API calls made before it."""
    next: str | None
    arg: int
    """The object argument of an API call; -1 for none."""
    next_scope: tuple[int, int] | None
    """The frames handed on to the callee; None when the step returns."""
    end: bool


@dataclass
class Run:
    """One expert run: its observations and the goals it carried out, in order."""

    obs: list[np.ndarray] = field(default_factory=list)
    goals: list[tuple[int, int, int]] = field(default_factory=list)
    """(src argument, dst argument, demonstration segment) per goal."""


def run_expert(
    task: TabletopTask,
    problems: list[dict],
    which: int = 0,
    on_observe: Callable[[KinematicWorld, list[int]], None] | None = None,
) -> tuple[list[Run], KinematicWorld]:
    """The expert on a batch of problems, all worlds in lockstep: the trials (which=0) or the
    demonstrations (which=1). Returns each run and the worlds at the end; `on_observe(world, rows)` is
    called wherever those rows record an observation (to film them)."""
    world = task.world(problems, which)
    runs = [Run() for _ in problems]
    obs = task.observe(world)
    for row, run in enumerate(runs):
        run.obs.append(obs[row])
    if on_observe is not None:
        on_observe(world, list(range(len(problems))))
    done = np.zeros(len(problems), dtype=np.int64)
    let_go = task.last_api
    while True:
        live = [(r, g) for r, g in enumerate(task.rounds(world, problems, done)) if g is not None]
        if not live:
            return runs, world
        rows = np.array([r for r, _ in live], dtype=np.int64)
        src = np.array([g[0] for _, g in live])
        dst = np.array([g[1] for _, g in live])
        for api, arg in ((MOVE, src), (MOVE_GRASP, src), (MOVE, dst), (let_go, dst)):
            world.apply(rows, np.full(len(rows), api), task.resolve(world, rows, arg))
            obs = task.observe(world)
            for r in rows.tolist():
                runs[r].obs.append(obs[r])
            if on_observe is not None:
                on_observe(world, rows.tolist())
        for r, goal in live:
            runs[r].goals.append(goal)
        done[rows] += 1


def demonstrations(task: TabletopTask, problems: list[dict]) -> tuple[list[np.ndarray], list[Run | None]]:
    """Each problem's task specification: its own "demonstration" when it brings one, else the expert's
    run from the problem's second start. Also the expert runs (None for a given demonstration)."""
    frames: list[np.ndarray | None] = [p.get("demonstration") for p in problems]
    todo = [i for i, f in enumerate(frames) if f is None]
    runs: list[Run | None] = [None] * len(problems)
    if todo and task.video:  # filmed in physics, read back by the colour detector
        mine = [problems[i] for i in todo]
        for i, problem, video in zip(todo, mine, film(task, mine), strict=True):
            frames[i] = task.video_frames(problem, video)
    elif todo:
        done, _ = run_expert(task, [problems[i] for i in todo], which=1)
        for i, run in zip(todo, done, strict=True):
            frames[i] = np.stack(run.obs)
            runs[i] = run
    return [f for f in frames if f is not None], runs


def film(task: TabletopTask, problems: list[dict], view: tuple[int, int] = VIEW) -> list[Video]:
    """The expert's demonstration of each problem (from its second start), run in physics and filmed
    by the detector's two cameras (RGB and depth) wherever it records an observation."""
    shots: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in problems]

    def shoot(world: Any, rows: list[int]) -> None:
        for row in rows:
            pictures = [world.render(row, cam, view, depth=True) for cam in (0, 1)]
            shots[row].append((np.stack([rgb for rgb, _ in pictures]), np.stack([d for _, d in pictures])))

    run_expert(task.using("mujoco"), problems, which=1, on_observe=shoot)
    return [Video(np.stack([r for r, _ in s]), np.stack([d for _, d in s]).astype(np.float32)) for s in shots]


def segments(run: Run, demo: Run) -> list[int]:
    """The demonstration segment of each goal of a trial: stacking goals follow the demonstration one for
    one; an order-fulfillment goal uses the segment that moved the same category."""
    by_category = {src: d for d, (src, _, _) in enumerate(demo.goals)}
    return [seg if seg >= 0 else by_category[src] for src, _, seg in run.goals]


def expert_steps(task: TabletopTask, run: Run, demo: Run, hierarchical: bool = True) -> list[Step]:
    """The steps of the expert's trace of one trial, in execution order."""
    move, grasp, let_go = (p.name for p in task.programs.programs[-3:])
    whole = (0, PER_GOAL * len(demo.goals))
    steps: list[Step] = []
    if not hierarchical:
        k = 0
        for src, dst, _ in run.goals:
            for name, arg in ((move, src), (grasp, -1), (move, dst), (let_go, -1)):
                steps.append(Step(0, task.root, whole, k, name, arg, whole, False))
                k += 1
        steps.append(Step(0, task.root, whole, k, None, -1, None, True))
        return steps
    for g, ((src, dst, _), seg) in enumerate(zip(run.goals, segments(run, demo), strict=True)):
        k, f = PER_GOAL * g, PER_GOAL * seg  # observation index, demonstration frame
        steps.append(Step(0, task.root, whole, k, task.middle, -1, (f, f + 4), False))
        steps.append(Step(1, task.middle, (f, f + 4), k, "PICK", -1, (f, f + 2), False))
        steps.append(Step(2, "PICK", (f, f + 2), k, move, src, (f, f + 1), False))
        steps.append(Step(2, "PICK", (f, f + 2), k + 1, grasp, -1, (f + 1, f + 2), False))
        steps.append(Step(2, "PICK", (f, f + 2), k + 2, None, -1, None, True))
        steps.append(Step(1, task.middle, (f, f + 4), k + 2, task.second, -1, (f + 2, f + 4), False))
        steps.append(Step(2, task.second, (f + 2, f + 4), k + 2, move, dst, (f + 2, f + 3), False))
        steps.append(Step(2, task.second, (f + 2, f + 4), k + 3, let_go, -1, (f + 3, f + 4), False))
        steps.append(Step(2, task.second, (f + 2, f + 4), k + 4, None, -1, None, True))
        steps.append(Step(1, task.middle, (f, f + 4), k + 4, None, -1, None, True))
    steps.append(Step(0, task.root, whole, PER_GOAL * len(run.goals), None, -1, None, True))
    return steps


@dataclass
class Trace:
    """An expert trace of one trial: the problem, its demonstration, the observations and the steps."""

    problem: dict
    spec: np.ndarray  # (L, F) demonstration frames
    obs: np.ndarray  # (T + 1, F) observations of the trial
    steps: list[Step]


def record(task: TabletopTask, problems: list[dict], hierarchical: bool = True) -> list[Trace]:
    """Expert traces of a batch of problems (their demonstrations made by the expert too)."""
    specs, demos = demonstrations(task, problems)
    if any(d is None for d in demos):
        raise ValueError("expert traces need the expert's own demonstrations (drop 'demonstration')")
    runs, _ = run_expert(task, problems)
    return [
        Trace(p, spec, np.stack(run.obs), expert_steps(task, run, demo, hierarchical))  # type: ignore[arg-type]
        for p, spec, run, demo in zip(problems, specs, runs, demos, strict=True)
    ]


def write_traces(path: str | Path, task: TabletopTask, traces: list[Trace]) -> None:
    """JSONL: per trace a header (task, env, problem, the demonstration's frames), then one line per step
    with its observation written out."""
    lines = []
    for t in traces:
        header = {
            "format": FORMAT,
            "version": VERSION,
            "task": task.name,
            "env": task.env_id,
            "problem": {k: v for k, v in t.problem.items() if k != "demonstration"},
            "spec": np.round(t.spec.astype(np.float64), 5).tolist(),
        }
        lines.append(json.dumps(header))
        for s in t.steps:
            lines.append(
                json.dumps(
                    {
                        "depth": s.depth,
                        "program": s.program,
                        "scope": list(s.scope),
                        "obs": np.round(t.obs[s.obs].astype(np.float64), 5).tolist(),
                        "next": s.next,
                        "arg": s.arg,
                        "next_scope": None if s.next_scope is None else list(s.next_scope),
                        "end": s.end,
                    }
                )
            )
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(line + "\n" for line in lines))
    tmp.replace(path)
