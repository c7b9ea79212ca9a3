"""The call-stack interpreter (NPI and every family with a program memory): a call stack per problem,
run for many problems in lockstep.

Each lockstep step makes one batched forward pass for the frame on top of every live problem's stack,
then applies the outcome per problem: return (pop and restore the caller's core state), call a
primitive (one action on the machine), or call a program (push the caller's state, start the callee
from a zero state). A problem that exceeds its step or depth budget is stopped: it did not halt, and
a run that did not halt is never correct, so a wrong model can neither hang the interpreter nor score.

The interpreter keeps whatever recurrent state its model declares (`CallStackModel`): an LSTM's (h, c),
or nothing at all for a feed-forward core.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from neuralprog.execute.common import RunResult, attach_images
from neuralprog.tasks import Machine, Task

State = tuple[torch.Tensor, ...]


class StepHeads(Protocol):
    """What a model's step says for each frame."""

    end_logit: torch.Tensor  # (N,) return when > 0
    key_scores: torch.Tensor  # (N, n_programs) the next program is the argmax
    arg_logits: torch.Tensor  # (N, n_args, arg_size) the next call's arguments


Stepper = Callable[
    [torch.Tensor, torch.Tensor, torch.Tensor, State, "torch.Tensor | None"], tuple[StepHeads, State]
]
"""(obs (N, F), args (N, n_args), program (N,), state, env (N,) or None) -> (heads, new state)."""


class CallStackModel(Protocol):
    """What the interpreter needs of a model with a program memory."""

    def parameters(self): ...

    def eval(self): ...

    def zero_state(self, batch: int) -> State:
        """The state every call frame starts from: tensors with the batch on dimension 1 (the layout of
        an LSTM's h and c); an empty tuple for a core without state."""
        ...

    def stepper(self) -> Stepper:
        """A function computing one step of N frames (weights prepared once per run)."""
        ...


@dataclass
class StepEvent:
    """What one problem did in one step (for `trace` and debugging)."""

    row: int
    depth: int
    program: str
    args: tuple[int, ...]
    obs: tuple
    end_probability: float
    next: str | None
    next_args: tuple[int, ...]
    top: tuple[tuple[str, float], ...] = ()
    """The most probable next programs, (name, probability), best first."""


@torch.inference_mode()
def run(
    model: CallStackModel,
    task: Task,
    problems: list[dict],
    on_step: Callable[[list[StepEvent], Machine], None] | None = None,
) -> RunResult:
    """Run the root program on every problem, in lockstep. Problems must already be parsed.

    `on_step(events, machine)` is called once per lockstep step, after the step's primitive actions."""
    model.eval()
    attach_images(model, task)
    device = next(iter(model.parameters())).device
    names = task.programs.names
    no_args = task.programs.no_args
    primitive = np.asarray(task.programs.primitive_mask())
    n = len(problems)
    machine = task.machine(problems)
    step_budget = np.asarray([task.step_budget(p) for p in problems])
    depth_budget = np.asarray([task.depth_budget(p) for p in problems])
    steps = np.zeros(n, dtype=np.int64)
    halted = np.zeros(n, dtype=bool)
    failure: list[str | None] = [None] * n

    # Per live problem ("slot"); slots are compacted when problems finish. rows maps slot -> problem.
    rows = np.arange(n)
    depth = np.zeros(n, dtype=np.int64)
    capacity = 8
    program_stack = np.zeros((n, capacity), dtype=np.int64)
    program_stack[:, 0] = [task.programs.id(task.root_of(p)) for p in problems]
    env = None  # which encoder reads each problem's observations, when the model has several
    if len(task.obs_specs) > 1:
        env = torch.tensor([task.env_index(p) for p in problems], device=device)
    args_stack = np.zeros((n, capacity, len(no_args)), dtype=np.int64)
    step = model.stepper()
    state = model.zero_state(n)  # each (A, n, ...): the batch on dimension 1
    # the callers' states, per state tensor: (depth, n, A, ...)
    saved = [torch.zeros(capacity, *s.movedim(1, 0).shape, device=device) for s in state]

    while len(rows):
        live = np.arange(len(rows))
        top_program = program_stack[live, depth]
        top_args = args_stack[live, depth]
        obs = machine.observe()[rows]
        out, state = step(
            torch.from_numpy(obs).to(device),
            torch.from_numpy(top_args).to(device),
            torch.from_numpy(top_program).to(device),
            state,
            None if env is None else env[torch.from_numpy(rows).to(device)],
        )
        end = (out.end_logit > 0).cpu().numpy()
        next_program = out.key_scores.argmax(1).cpu().numpy()
        next_args = out.arg_logits.argmax(2).cpu().numpy()
        steps[rows] += 1
        act = ~end & primitive[next_program]
        if act.any():
            machine.act(rows[act], next_args[act])

        if on_step is not None:  # after the actions, so a callback sees their effect
            end_probability = torch.sigmoid(out.end_logit).cpu().numpy()
            best = torch.softmax(out.key_scores.float(), 1).topk(min(3, len(names)), 1)
            top_p, top_i = best.values.cpu().numpy(), best.indices.cpu().numpy()
            on_step(
                [
                    StepEvent(
                        int(rows[i]),
                        int(depth[i]),
                        names[top_program[i]],
                        tuple(top_args[i].tolist()),
                        tuple(obs[i].tolist()),
                        float(end_probability[i]),
                        None if end[i] else names[next_program[i]],
                        no_args if end[i] else tuple(next_args[i].tolist()),
                        tuple((names[j], float(p)) for j, p in zip(top_i[i], top_p[i], strict=True)),
                    )
                    for i in live
                ],
                machine,
            )

        call = np.flatnonzero(~end & ~primitive[next_program])
        if len(call):
            if depth[call].max() + 1 >= capacity:  # grow the stacks
                program_stack = np.concatenate([program_stack, np.zeros_like(program_stack)], 1)
                args_stack = np.concatenate([args_stack, np.zeros_like(args_stack)], 1)
                saved = [torch.cat([s, torch.zeros_like(s)]) for s in saved]
                capacity *= 2
            index = torch.from_numpy(call).to(device)
            d = torch.from_numpy(depth[call]).to(device)
            for s, stack in zip(state, saved, strict=True):
                stack[d, index] = s[:, index].movedim(1, 0)
                s[:, index] = 0.0
            depth[call] += 1
            program_stack[call, depth[call]] = next_program[call]
            args_stack[call, depth[call]] = next_args[call]

        done = end & (depth == 0)  # the root returned: the problem halted
        ret = np.flatnonzero(end & (depth > 0))
        if len(ret):
            depth[ret] -= 1
            index = torch.from_numpy(ret).to(device)
            d = torch.from_numpy(depth[ret]).to(device)
            for s, stack in zip(state, saved, strict=True):
                s[:, index] = stack[d, index].movedim(0, 1)

        halted[rows[done]] = True
        over_steps = ~done & (steps[rows] >= step_budget[rows])
        over_depth = ~done & (depth >= depth_budget[rows])
        for i in np.flatnonzero(over_steps):
            failure[rows[i]] = f"step budget of {step_budget[rows[i]]} exceeded"
        for i in np.flatnonzero(over_depth):
            failure[rows[i]] = f"call depth budget of {depth_budget[rows[i]]} exceeded"
        finished = done | over_steps | over_depth
        if finished.any():
            keep = np.flatnonzero(~finished)
            index = torch.from_numpy(keep).to(device)
            rows, depth = rows[keep], depth[keep]
            program_stack, args_stack = program_stack[keep], args_stack[keep]
            state = tuple(s[:, index] for s in state)
            saved = [stack[:, index] for stack in saved]

    return RunResult(machine.outputs(), steps, halted, failure)


def run_one_at_a_time(model: CallStackModel, task: Task, problems: list[dict]) -> RunResult:
    """The same problems through `run`, one problem per call (the reference for the lockstep path)."""
    results = [run(model, task, [p]) for p in problems]
    return RunResult(
        outputs=[r.outputs[0] for r in results],
        steps=np.concatenate([r.steps for r in results]),
        halted=np.concatenate([r.halted for r in results]),
        failure=[r.failure[0] for r in results],
    )
