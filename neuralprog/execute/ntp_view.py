"""The NTP trace view: the program tree of one trial, each call with the demonstration frames it was
handed, then the world's final state; optionally a picture of the table after every API call.

    STACK [0..8]
      PICK_PLACE [0..4]
        PICK [0..2]
          MOVE(2) [0..1]
          MOVE_GRASP [1..2]
        ...
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from neuralprog.envs.tabletop import render
from neuralprog.envs.tabletop.experts import demonstrations, record
from neuralprog.envs.tabletop.tasks import TabletopTask
from neuralprog.envs.tabletop.world import BLOCK, KinematicWorld
from neuralprog.execute.ntp import run
from neuralprog.execute.page import Recording
from neuralprog.models.ntp import NTP


def _line(depth: int, program: str, arg: int, scope: tuple[int, int] | None) -> str:
    call = f"{program}({arg})" if arg >= 0 else program
    where = f" [{scope[0]}..{scope[1]}]" if scope is not None else ""
    return "  " * depth + call + where


def show(
    model: NTP,
    task: TabletopTask,
    problem: dict,
    oracle: bool = False,
    pad: str = "act",
    out: Callable[[str], None] = print,
    frames: str | Path | None = None,
) -> bool:
    """Print the execution of one trial (the model's, or the expert's with `oracle`); with `frames`,
    also write a PNG with a top view of the table after every API call, or with a `.gif` name (a
    physics task) an animation of the whole run. Returns whether it was correct."""
    primitive = dict(zip(task.programs.names, task.programs.primitive_mask(), strict=True))
    events: list[Any] = []
    failure = None
    if oracle:
        trace = record(task, [problem])[0]
        events = list(trace.steps)
        out(f"the expert's trace (demonstration of {len(trace.spec)} frames)")
    else:
        result = run(model, task, [problem], on_event=lambda row, event: events.append(event))
        failure = result.failure[0]
    out(f"{task.root} [0..{events[0].scope[1] if events else 0}]")
    for e in events:
        if e.next is not None:
            out(_line(e.depth + 1, e.next, e.arg, e.next_scope))
    film = frames is not None and str(frames).lower().endswith(".gif")
    world, snaps, titles = _replay(task, problem, events, primitive, film)
    if failure:
        out(f"did not halt: {failure}")
    output = task.outputs(world, [problem])[0]
    correct = failure is None and output == task.expected(problem)
    out("")
    out(render.text(world, 0))
    out(f"output {output}  expected {task.expected(problem)}  {'correct' if correct else 'WRONG'}")
    if film and frames is not None:
        import imageio.v3 as iio

        shots = world.film[0]  # type: ignore[attr-defined]
        iio.imwrite(frames, np.stack(shots), duration=40, loop=0)
        out(f"the run filmed in physics ({len(shots)} frames): {frames}")
    elif frames is not None:
        render.pictures(snaps, titles, frames)
        out(f"pictures of the table after each API call: {frames}")
    return correct


def _replay(
    task: TabletopTask, problem: dict, events: list[Any], primitive: dict[str, bool], film: bool = False
) -> tuple[KinematicWorld, list[dict], list[str]]:
    """Replay the API calls of a run on a fresh world (the same seed gives the same run, in physics
    too), with a snapshot after each; `film` films a physics world all along."""
    world = task.world([problem])
    if film:
        world.film[0] = []  # type: ignore[attr-defined]
    snaps, titles = [render.snapshot(world, 0)], ["start"]
    at = np.zeros(1, dtype=np.int64)
    for e in events:
        if e.next is not None and primitive[e.next]:
            world.apply(
                at, np.array([task.api_of(e.next)]), task.resolve(world, at, np.array([max(e.arg, 0)]))
            )
            snaps.append(render.snapshot(world, 0))
            titles.append(f"{len(snaps) - 1}: {e.next.lower()}" + (f"({e.arg})" if e.arg >= 0 else ""))
    return world, snaps, titles


def page(model: NTP, task: TabletopTask, problem: dict, oracle: bool = False, title: str = "") -> dict:
    """`trace --html` for NTP: one trial (the model's, or the expert's with `oracle`) as a `Recording`'s
    page data: the program tree, each call with the demonstration frames it was handed, the table after
    every API call (a top view) and, for the model, its end probability, top programs and first
    departure from the expert's trace (when the expert made the demonstration)."""
    primitive = dict(zip(task.programs.names, task.programs.primitive_mask(), strict=True))
    expert = None if "demonstration" in problem else record(task, [problem])[0]
    events: list[Any] = []
    failure, halted = None, True
    if oracle:
        if expert is None:
            raise ValueError("the expert's trace needs the expert's own demonstration (drop 'demonstration')")
        events = list(expert.steps)
    else:
        result = run(model, task, [problem], on_event=lambda row, event: events.append(event))
        failure, halted = result.failure[0], bool(result.halted[0])
    # the expert's trace holds the demonstration already (in physics, a film: made once, not twice)
    spec = expert.spec if expert is not None else demonstrations(task, [problem])[0][0]
    world = task.world([problem])
    rec = Recording(title, "oracle" if oracle else "model", problem, _table(world))
    rec.root(f"{task.root} [0..{len(spec) - 1}]")
    at = np.zeros(1, dtype=np.int64)
    departure = None
    for k, e in enumerate(events):
        acts = e.next is not None and primitive[e.next]
        if acts:
            world.apply(
                at, np.array([task.api_of(e.next)]), task.resolve(world, at, np.array([max(e.arg, 0)]))
            )
        label = _said(e)
        if not oracle and expert is not None and departure is None:
            want = expert.steps[k] if k < len(expert.steps) else None
            if want is None or _decision(want) != _decision(e):
                said = "the expert's run has ended" if want is None else _said(want)
                departure = {"step": k, "expected": said, "title": "departs from the expert"}
        rec.step(
            e.depth,
            e.program,
            label,
            _table(world) if acts else None,
            calls=None if e.next is None or acts else label,
            end=None if oracle else e.end,
            top=None if oracle else list(e.top),
            scope=list(e.scope),
        )
    rec.extra["spec"] = {"frames": np.round(spec, 3).tolist()}
    output = task.outputs(world, [problem])[0]
    correct = halted and output == task.expected(problem)
    return rec.finish(
        output=output,
        expected=task.expected(problem),
        halted=halted,
        correct=correct,
        failure=failure,
        departure=departure,
    )


def _table(world: KinematicWorld) -> dict:
    """The page's drawing of trial 0's table: per object [x, y, z, container, category, inside], the
    gripper and what it holds, and the world's reading as text."""
    snap = render.snapshot(world, 0)
    objects = [
        [*np.round(p, 3).tolist(), int(c), int(cat), int(inside)]
        for p, c, cat, inside in zip(
            snap["positions"], snap["containers"], snap["category"], snap["inside"], strict=True
        )
    ]
    table = {"objects": objects, "gripper": np.round(snap["gripper"], 3).tolist(), "held": snap["held"]}
    return {"table": {**table, "block": BLOCK}, "text": render.text(world, 0)}


def _decision(step: Any) -> tuple:
    """What a step decided (a model's event or an expert's step): who decided, and what it called."""
    return step.depth, step.program, step.next, step.arg


def _said(step: Any) -> str:
    """A step's decision as the page labels it: `return`, or the call with its argument and scope."""
    return "return" if step.next is None else _line(0, step.next, step.arg, step.next_scope)
