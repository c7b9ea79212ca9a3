"""Provable generalization (Cai et al. 2017): check a model against the reference program on every call
frame the programs can meet.

With recursive programs every call frame is short, and what a frame sees is fixed by a few local values
(digits under the pointers, a carry, whether a pointer is on the first or last cell). The task lists
problems whose traces realise every such step situation (`Task.verification_problems`); their call
frames, without duplicates, are the verification set. Each frame starts from a zero LSTM state, so the
model runs on each frame alone, fed the oracle's observations: up to its first difference from the
oracle it is exactly the model's own run of that frame. If the model's end flag, next program and
arguments equal the oracle's at every step of every frame, then on any input, of any length, each frame
of its execution is one it was checked on, and by induction over the call tree the whole execution
equals the reference program's. (The induction needs the set to hold every reachable frame; for
addition the construction proves it, for sorting it covers every step situation and a test checks that
random long arrays meet nothing outside it.)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import torch

from neuralprog.frames import FrameData
from neuralprog.models.npi import NPI, step_losses
from neuralprog.registry import program_task
from neuralprog.tasks import Task
from neuralprog.traces import Frame, distinct_frames, record_all


@dataclass
class Mismatch:
    """A frame where the model differs from the oracle, up to and including the first differing step."""

    program: str
    args: tuple[int, ...]
    steps: list[tuple[tuple[int, ...], str, str]]  # (observation, oracle's action, model's action)
    problem: dict  # the shortest verification problem whose trace holds the frame


@dataclass
class Verification:
    task: str
    problems: int
    frames: int
    steps: int
    wrong_frames: int
    seconds: float
    mismatches: list[Mismatch] = field(default_factory=list)
    wrong_problems: list[dict] = field(default_factory=list)
    """For every differing frame, the shortest verification problem that holds it (a counterexample)."""

    @property
    def verified(self) -> bool:
        return self.wrong_frames == 0


def _verification_set(task: Task) -> tuple[list[dict], list[Frame], list[int]]:
    """(problems, their distinct frames, the index of each frame's first problem), cached per task."""
    return _verification_set_of(task.name)


@cache
def _verification_set_of(task_name: str) -> tuple[list[dict], list[Frame], list[int]]:
    task = program_task(task_name)
    problems = sorted(task.verification_problems(), key=task.size)  # stable: shortest producer first
    # recorded in lockstep: one by one, recursive addition's 24,642 problems took 30 s, sorting's 39
    frame_list, producer = distinct_frames(task, record_all(task, problems))
    return problems, frame_list, producer


def verification_frames(task: Task) -> tuple[int, list[Frame]]:
    """(number of problems, the distinct call frames of their oracle traces)."""
    problems, frame_list, _ = _verification_set(task)
    return len(problems), frame_list


@torch.no_grad()
def verify(model: NPI, task: Task, show: int = 5, chunk: int = 8192) -> Verification:
    """Run the model on every frame of the task's verification set; keep the first `show` mismatches."""
    started = time.perf_counter()
    problems, frame_list, producer = _verification_set(task)
    model.eval()
    device = model.program_keys.device
    data = FrameData(frame_list, device)
    names = task.programs.names
    wrong_frames = 0
    wrong_producers: set[int] = set()
    mismatches: list[Mismatch] = []
    for lo in range(0, len(data), chunk):
        batch = data.batch(np.arange(lo, min(lo + chunk, len(data))))
        out = model.forward_frames(batch.obs, batch.args, batch.program, batch.env)
        ok = step_losses(out, batch.next_program, batch.next_args, batch.end)[1].cpu().numpy()
        end = (out.end_logit > 0).cpu().numpy()  # the model's choices, to show where it differs
        program = out.key_scores.argmax(1).cpu().numpy()
        args = out.arg_logits.argmax(2).cpu().numpy()
        target_end = batch.end.cpu().numpy()
        bad = np.unique(batch.frames[~ok])
        wrong_frames += len(bad)
        wrong_producers.update(producer[f] for f in bad)
        for f in bad[: max(0, show - len(mismatches))]:
            mine = np.flatnonzero(batch.frames == f)  # this frame's packed steps, in time order
            first_wrong = int(np.argmax(~ok[mine]))
            frame = frame_list[f]
            steps = []
            for t, i in enumerate(mine[: first_wrong + 1]):
                oracle = _action(task, bool(target_end[i]), int(frame.next_program[t]), frame.next_args[t])
                chosen = _action(task, bool(end[i]), int(program[i]), args[i])
                steps.append((tuple(frame.obs[t].tolist()), oracle, chosen))
            mismatches.append(Mismatch(names[frame.program], frame.args, steps, problems[producer[f]]))
    return Verification(
        task.name,
        len(problems),
        len(frame_list),
        data.steps,
        wrong_frames,
        time.perf_counter() - started,
        mismatches,
        [problems[i] for i in sorted(wrong_producers)],
    )


def _action(task: Task, end: bool, program: int, args: np.ndarray) -> str:
    if end:
        return "return"
    name, values = task.programs.names[program], tuple(int(a) for a in args)
    return f"ACT {task.describe_action(values)}" if task.programs[name].primitive else f"{name}{values}"
