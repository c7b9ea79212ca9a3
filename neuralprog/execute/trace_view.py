"""`neuralprog trace` for models that call programs: the execution step by step, indented by call depth.

Each line is one model step: the program on top of the stack, the probability that it returns now, and
what it does (return, call a program, or a primitive action in readable form), with the machine drawn
after actions. The first step where the model departs from the reference program (the oracle) is marked.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from neuralprog.execute.interpreter import CallStackModel, StepEvent, run
from neuralprog.execute.page import Recording, machine_view
from neuralprog.multitask import MixedMachine, MultiTask
from neuralprog.tasks import Machine, Task
from neuralprog.traces import record

PADS = ("act", "all", "none")
"""When to draw the machine: after every primitive action, after every step, or only at the start and
end."""


def show(
    model: CallStackModel,
    task: Task,
    problem: dict,
    oracle: bool = False,
    pad: str = "act",
    out: Callable[[str], None] = print,
    frames: str | Path | None = None,
) -> bool:
    """Print the model's execution of a parsed problem (with `oracle`, the reference program's instead);
    returns whether the run was correct (halted with the right answer). With `frames`, a task that
    draws its machine as a picture (cars) also writes the start and the state after every action as an
    animated GIF (a path ending in .gif) or one PNG strip."""
    if pad not in PADS:
        raise ValueError(f"pad is one of {', '.join(PADS)}, got {pad!r}")
    reference = record(task, problem).steps
    own_task = task.part(problem) if isinstance(task, MultiTask) else task  # reads its ACT arguments
    if frames is not None and not hasattr(own_task, "picture"):
        raise ValueError(f"--frames draws pictures of tasks that have them (cars), not of {own_task.name}")
    pictures: list[np.ndarray] = []

    def snap(machine: Any, title: str) -> None:
        if frames is not None:
            part = machine.machines[problem["task"]] if isinstance(task, MultiTask) else machine
            pictures.append(own_task.picture(part, 0, title))  # type: ignore[attr-defined]

    def describe(next_program: str | None, next_args: tuple[int, ...]) -> str:
        if next_program is None:
            return "return"
        if task.programs[next_program].primitive:
            return f"{next_program} {own_task.describe_action(next_args)}"
        return next_program

    if oracle:  # replay the oracle's actions on a fresh machine, drawing it as we go
        replay = task.machine([problem])
        out(replay.render(0))
        snap(replay, "start")
        for k, step in enumerate(reference):
            out(f"{'  ' * step.depth}{step.program:<8} -> {describe(step.next, step.next_args)}")
            if step.next and task.programs[step.next].primitive:
                replay.act(np.zeros(1, dtype=np.int64), np.asarray([step.next_args]))
                snap(replay, f"step {k} {step.program}")
                if pad == "act":
                    out(_indent(replay.render(0), step.depth + 1))
        output = replay.outputs()[0]
        out(f"oracle output {output}  expected {task.expected(problem)}")
        _write_frames(pictures, frames, out)
        return bool(output == task.expected(problem))

    count = 0
    departed: list[int] = []
    final: list[Any] = []

    def on_step(events: list[StepEvent], machine: Machine) -> None:
        nonlocal count
        final[:] = [machine]
        e = events[0]
        expected = reference[count] if count < len(reference) else None
        marker = ""
        if not _same(expected, e) and not departed:
            departed.append(count)
            want = "end" if expected is None else describe(expected.next, expected.next_args)
            marker = f"   <-- departs from the oracle (oracle: {want})"
        line = (
            f"{'  ' * e.depth}{e.program:<8} end {e.end_probability:.2f}  -> {describe(e.next, e.next_args)}"
        )
        out(line + marker)
        if e.next is not None and task.programs[e.next].primitive:
            snap(machine, f"step {count} {e.program}")
        if pad == "all" or (pad == "act" and e.next is not None and task.programs[e.next].primitive):
            out(_indent(machine.render(0), e.depth + 1))
        count += 1

    start = task.machine([problem])
    out(start.render(0))
    snap(start, "start")
    result = run(model, task, [problem], on_step=on_step)
    if pad != "act" and final:
        out(final[0].render(0))
    output, expected_output = result.outputs[0], task.expected(problem)
    halted = bool(result.halted[0])
    correct = halted and output == expected_output
    status = "halted" if halted else f"did not halt: {result.failure[0]}"
    verdict = "correct" if correct else "WRONG"
    out(f"output {output}  expected {expected_output}  {verdict}; {int(result.steps[0])} steps, {status}")
    if departed:
        out(f"the model departs from the oracle at step {departed[0]}")
    else:
        out("the model follows the oracle step for step")
    _write_frames(pictures, frames, out)
    return correct


def _write_frames(pictures: list[np.ndarray], path: str | Path | None, out: Callable[[str], None]) -> None:
    """An animated GIF (half a second a frame, the last held) or a PNG strip, 8 pictures a row."""
    if path is None or not pictures:
        return
    from PIL import Image

    images = [Image.fromarray(p) for p in pictures]
    if str(path).lower().endswith(".gif"):
        durations = [500] * (len(images) - 1) + [2000]
        images[0].save(path, save_all=True, append_images=images[1:], duration=durations, loop=0)
    else:
        columns = min(8, len(images))
        rows = (len(images) + columns - 1) // columns
        width, height = images[0].size
        sheet = Image.new("RGB", (columns * width, rows * height), "white")
        for k, image in enumerate(images):
            sheet.paste(image, ((k % columns) * width, (k // columns) * height))
        sheet.save(path)
    out(f"{len(images)} pictures of the run: {path}")


def _indent(text: str, depth: int) -> str:
    return "\n".join("  " * depth + line for line in text.splitlines())


def page(model: CallStackModel, task: Task, problem: dict, oracle: bool = False, title: str = "") -> dict:
    """`trace --html`: the model's execution of a parsed problem (with `oracle`, the reference program's)
    as a `Recording`'s page data: every step, the machine after each action (a car's view as a
    picture), the end probability and top programs of each model step, and the first step where the
    model departs from the oracle. A run that goes wrong or runs out of budget is recorded to its end."""
    reference = record(task, problem).steps
    own_task = task.part(problem) if isinstance(task, MultiTask) else task
    primitive = {name: task.programs[name].primitive for name in task.programs.names}

    def state(machine: Any) -> dict:
        part, row = machine.part(0) if isinstance(machine, MixedMachine) else (machine, 0)
        view = machine_view(part, row)
        if hasattr(own_task, "picture"):
            view["image"] = own_task.picture(part, row)
        return view

    def label(next_program: str | None, next_args: tuple[int, ...]) -> str:
        if next_program is None:
            return "return"
        if primitive[next_program]:
            return f"{next_program} {own_task.describe_action(next_args)}"
        return _call(next_program, next_args)

    machine = task.machine([problem])
    rec = Recording(title, "oracle" if oracle else "model", problem, state(machine))
    rec.root(task.root_of(problem))
    expected_output = task.expected(problem)

    def add(step: Any, after: Any, **scores: Any) -> None:
        """Record a step (the oracle's trace step or the model's StepEvent) and the machine it left."""
        acts = step.next is not None and primitive[step.next]
        called = step.next is not None and not acts
        rec.step(
            step.depth,
            step.program,
            label(step.next, step.next_args),
            state(after) if acts else None,
            calls=_call(step.next, step.next_args) if called else None,
            **scores,
        )

    if oracle:
        for step in reference:
            if step.next is not None and primitive[step.next]:
                machine.act(np.zeros(1, dtype=np.int64), np.asarray([step.next_args]))
            add(step, machine)
        output = machine.outputs()[0]
        return rec.finish(
            output=output, expected=expected_output, halted=True, correct=output == expected_output
        )

    departure: dict | None = None

    def on_step(events: list[StepEvent], running: Machine) -> None:
        nonlocal departure
        e, k = events[0], len(rec.columns["depth"])
        expected = reference[k] if k < len(reference) else None
        if departure is None and not _same(expected, e):
            want = (
                "the oracle's run has ended" if expected is None else label(expected.next, expected.next_args)
            )
            departure = {"step": k, "expected": want, "title": "departs from the oracle"}
        add(e, running, end=e.end_probability, top=list(e.top))

    result = run(model, task, [problem], on_step=on_step)
    output, halted = result.outputs[0], bool(result.halted[0])
    return rec.finish(
        output=output,
        expected=expected_output,
        halted=halted,
        correct=halted and output == expected_output,
        failure=result.failure[0],
        departure=departure,
    )


def _call(program: str, args: tuple[int, ...]) -> str:
    """A call as the page labels it: its arguments only when it has some that are not zero."""
    return f"{program}({', '.join(map(str, args))})" if any(args) else program


def _same(expected: Any, e: StepEvent) -> bool:
    """Whether a model step does what the oracle's trace does at the same step (a return has no next
    program and no arguments on both sides, so one comparison covers it)."""
    return expected is not None and (
        expected.depth,
        expected.program,
        expected.next,
        tuple(expected.next_args),
    ) == (e.depth, e.program, e.next, tuple(e.next_args))
