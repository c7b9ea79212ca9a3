"""The NTP interpreter: many trials in lockstep, each with its own call stack over one specification.

Each iteration makes one batched forward over the stack tops of every live trial (`NTP.step`), then per
trial: return (end probability above 0.5), call an API (the world acts and the caller goes on), or push
the chosen program with the scope the interpreter decoded. A trial halts when its root returns; it fails
when its step or depth budget runs out or its world fails (an API call that broke a rule), and then it
is stopped there. The answer is read off the world (towers standing, objects in containers), not off
the model's intentions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from neuralprog.envs.tabletop.experts import demonstrations
from neuralprog.envs.tabletop.tasks import TabletopTask
from neuralprog.envs.tabletop.world import KinematicWorld
from neuralprog.execute.common import RunResult
from neuralprog.models.ntp import NTP

END_THRESHOLD = 0.5
HALTING = (
    "a run halts when its root program returns within its step and depth budgets; "
    "the answer is the world's final state"
)


@dataclass
class Event:
    """One model step of one trial, for trace views."""

    depth: int
    program: str
    scope: tuple[int, int]
    obs: int
    """API calls made before the step."""
    end: float
    next: str | None
    arg: int
    next_scope: tuple[int, int] | None
    top: tuple[tuple[str, float], ...] = ()
    """The most probable next programs, (name, probability), best first."""


@dataclass
class Frame:
    program: int
    scope: tuple[int, int]
    state: torch.Tensor | None = None


def pad_specs(specs: list[np.ndarray], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, L, F) frames, zero-padded, and their lengths (B,)."""
    longest = max(len(s) for s in specs)
    out = np.zeros((len(specs), longest, specs[0].shape[1]), dtype=np.float32)
    for i, s in enumerate(specs):
        out[i, : len(s)] = s
    return torch.from_numpy(out).to(device), torch.tensor([len(s) for s in specs], device=device)


def run(
    model: NTP,
    task: TabletopTask,
    problems: list[dict],
    noise: float | None = None,
    on_event: Callable[[int, Event], None] | None = None,
    world: KinematicWorld | None = None,
) -> RunResult:
    """Run every problem in lockstep; `on_event(row, event)` sees every step (for traces). Pass `world`
    to run on worlds built elsewhere (a physics backend); by default the kinematic world of the
    problems' starts, with `noise` the placement noise (default: the task's)."""
    device = next(model.parameters()).device
    model.eval()
    specs, _ = demonstrations(task, problems)
    spec, lengths = pad_specs(specs, device)
    frames = model.encode(spec).detach()  # (B, L, H)
    world = world if world is not None else task.world(problems, noise=noise)
    names = task.programs.names
    primitive = task.programs.primitive_mask()
    takes_object = torch.tensor([task.takes_object(name) for name in names], device=device)
    root = task.programs.id(task.root)
    stacks = [[Frame(root, (0, int(n) - 1))] for n in lengths.tolist()]
    budgets = np.array([task.step_budget(p) for p in problems])
    depth_budget = max(task.depth_budget(p) for p in problems)
    steps = np.zeros(len(problems), dtype=np.int64)
    api_calls = np.zeros(len(problems), dtype=np.int64)
    halted = np.zeros(len(problems), dtype=bool)
    failure: list[str | None] = [None] * len(problems)
    counts = {
        "wrong_pick": np.zeros(len(problems), dtype=np.int64),
        "wrong_place": np.zeros(len(problems), dtype=np.int64),
    }
    j = torch.arange(spec.shape[1], device=device)
    while True:
        live = [r for r, stack in enumerate(stacks) if stack and failure[r] is None]
        if not live:
            break
        rows = np.array(live)
        tops = [stacks[r][-1] for r in live]
        scope = torch.tensor([f.scope for f in tops], device=device)
        mask = (j >= scope[:, :1]) & (j <= scope[:, 1:])
        obs = torch.from_numpy(task.observe(world)[rows]).to(device)
        state = None
        if model.config.core == "gru":
            h = model.config.hidden_size
            state = torch.stack(
                [f.state if f.state is not None else torch.zeros(1, h, device=device) for f in tops], 1
            )
        out = model.step(
            obs,
            frames[rows],
            mask,
            torch.tensor([f.program for f in tops], device=device),
            state,
            takes_object,
        )
        end = out["end"].cpu().numpy()
        chosen = out["program"].cpu().numpy()
        sub = out["scope"].cpu().numpy()
        arg = out["arg"].cpu().numpy()
        if on_event is not None:
            best = torch.softmax(out["program_logits"].float(), -1).topk(min(3, len(names)), -1)
            top_p, top_i = best.values.cpu().numpy(), best.indices.cpu().numpy()
        api_rows, api_codes, api_args = [], [], []
        for k, r in enumerate(live):
            frame = tops[k]
            if out["state"] is not None:
                frame.state = out["state"][:, k]
            steps[r] += 1
            returns = bool(end[k] > END_THRESHOLD)
            nxt = None if returns else names[chosen[k]]
            if on_event is not None:
                on_event(
                    r,
                    Event(
                        len(stacks[r]) - 1,
                        names[frame.program],
                        frame.scope,
                        int(api_calls[r]),
                        float(end[k]),
                        nxt,
                        -1 if returns else int(arg[k]),
                        None if returns else (int(sub[k, 0]), int(sub[k, 1])),
                        tuple((names[j], float(p)) for j, p in zip(top_i[k], top_p[k], strict=True)),
                    ),
                )
            if returns:
                stacks[r].pop()
                halted[r] = not stacks[r]
            elif primitive[chosen[k]]:
                api_rows.append(r)
                api_codes.append(task.api_of(names[chosen[k]]))
                api_args.append(max(int(arg[k]), 0))
                api_calls[r] += 1
            elif len(stacks[r]) >= depth_budget:
                failure[r] = f"call depth budget {depth_budget} exhausted"
            else:
                stacks[r].append(Frame(int(chosen[k]), (int(sub[k, 0]), int(sub[k, 1]))))
            if stacks[r] and failure[r] is None and steps[r] >= budgets[r]:
                failure[r] = f"step budget {budgets[r]} exhausted"
        if api_rows:
            at = np.array(api_rows)
            world.apply(at, np.array(api_codes), task.resolve(world, at, np.array(api_args)))
            for r, code in zip(api_rows, api_codes, strict=True):
                if world.failed[r] and failure[r] is None:
                    failure[r] = f"the world failed: {world.reasons[r]}"
                mistake = None if world.failed[r] else task.judge(world, r, code, problems[r])
                if mistake:
                    counts[mistake][r] += 1
    return RunResult(task.outputs(world, problems), steps, halted, failure, counts)
