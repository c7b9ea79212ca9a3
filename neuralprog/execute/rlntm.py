"""The RL-NTM at work: greedy episodes over tape problems, and the paper's Figure 7 view of one.

An episode ends by rule, not by the model's choice: when the output head has emitted as many symbols as
the target holds (the step bound forces the last advances), so every episode halts, and a run is
correct when its emitted symbols equal the target.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from neuralprog.envs.tapes import BLANK, END, TapeBatch, TapeTask
from neuralprog.execute.common import RunResult
from neuralprog.execute.page import Recording
from neuralprog.models.rlntm import RLNTM, Episodes, Scores, rollout, score

HALTING = (
    "an RL-NTM episode ends by rule once the output head has emitted as many symbols as the target holds "
    "(the step bound forces it), so every episode halts"
)


def greedy(logits: torch.Tensor, step: int) -> tuple[None, torch.Tensor]:
    """Take the most probable action."""
    return None, logits.argmax(-1)


@torch.no_grad()
def run(model: RLNTM, task: TapeTask, problems: list[dict], batch: int = 500) -> RunResult:
    """Run parsed problems with greedy actions, `batch` at a time. `outputs` are the emitted symbols
    (without the final END), `steps` the steps taken; every episode halts within its step bound."""
    device = model.bias.device
    was_training = model.training
    model.eval()
    outputs, steps = [], []
    for lo in range(0, len(problems), batch):
        tapes = TapeBatch.of(
            task,
            problems[lo : lo + batch],
            window=model.window,
            cell_size=model.config.cell_size,
            device=device,
        )
        episodes = rollout(model, tapes, greedy)
        scores = score(model, episodes)
        symbols = scores.prediction_logits.argmax(-1).T.tolist()  # (B, T)
        emitting = episodes.advance.T.tolist()
        outputs += [
            task.answer([s for s, e in zip(row, emit, strict=True) if e])
            for row, emit in zip(symbols, emitting, strict=True)
        ]
        steps += episodes.live.sum(0).tolist()
    model.train(was_training)
    return RunResult(
        outputs, np.asarray(steps, dtype=np.int64), np.ones(len(problems), dtype=bool), [None] * len(problems)
    )


def trace(model: RLNTM, task: TapeTask, problem: dict) -> str:
    """One problem run with greedy actions, step by step, as the paper's Figure 7 (see `show`)."""
    lines: list[str] = []
    show(model, task, problem, out=lines.append)
    return "\n".join(lines)


@torch.no_grad()
def show(
    model: RLNTM, task: TapeTask, problem: dict, oracle: bool = False, out: Callable[[str], None] = print, **_
) -> bool:
    """`neuralprog trace` for an RL-NTM: print one problem run with greedy actions, step by step, as the
    paper's Figure 7: the input head's position (and the symbol under it), the memory head's position,
    starred when the step rewrote its cell (changed some value by more than 0.5), and the symbol emitted
    ('#' for none; '!' marks an advance forced by the step bound, 'x' a wrong symbol). Returns whether
    the run was correct (every episode halts, so: whether the answer is right)."""
    tapes, episodes, scores = _episode(model, task, problem, oracle)
    target = task.target(problem)
    tape = task.input_tape(problem)
    lines = [
        f"input   {_symbols(tape)}",
        f"target  {_symbols(target)}",
        f"{'step':>4}  {'input':>9}  {'memory':>6}  output",
    ]
    predicted = scores.prediction_logits.argmax(-1)[:, 0].tolist()
    emitted: list[int] = []
    for t in range(episodes.steps):
        if not bool(episodes.live[t, 0]):
            break
        position = int(episodes.input_pos[t, 0])
        symbol = tape[position] if 0 <= position < len(tape) else BLANK
        memory = "-"
        if episodes.memory_pos is not None and scores.memory_change is not None:
            memory = (
                f"{int(episodes.memory_pos[t, 0])}{'*' if float(scores.memory_change[t, 0]) > 0.5 else ''}"
            )
        emit = "#"
        if bool(episodes.advance[t, 0]):
            emitted.append(predicted[t])
            emit = _symbols([predicted[t]]) + ("!" if bool(episodes.forced[t, 0]) else "")
            emit += "" if predicted[t] == int(episodes.target[t, 0]) else " x"
        lines.append(f"{t:>4}  {position:>3} ({_symbols([symbol]):>2})  {memory:>6}  {emit}")
    output, expected = task.answer(emitted), task.expected(problem)
    verdict = "correct" if output == expected else "WRONG"
    lines.append(
        f"output {output}  expected {expected}  {verdict}; "
        f"{len(lines) - 3} steps, bound {int(tapes.bound[0])}"
    )
    out("\n".join(lines))
    return bool(output == expected)


MOVES = ("left", "stay", "right")


@torch.no_grad()
def page(model: RLNTM, task: TapeTask, problem: dict, oracle: bool = False, title: str = "") -> dict:
    """`trace --html` for an RL-NTM: one greedy episode as a `Recording`'s page data. The machine is
    drawn as the paper's Figure 7: the input tape with its head, the memory head over the cells it may
    visit (a cell the run has rewritten marked *), the target under the output head and the symbols
    emitted so far; each step's action probabilities are the scores. The first wrong symbol is the
    departure (the task's target is the oracle)."""
    _, episodes, scores = _episode(model, task, problem, oracle)
    tape, target = task.input_tape(problem), task.target(problem)
    memory = episodes.memory_pos is not None and scores.memory_change is not None
    reach = len(tape) + 1  # the memory head's range: -(len + 1)..len
    grid = {
        "input": [""] + [_symbols([v]) for v in tape] + [""],  # the blank cells a head may step onto
        "memory": [""] * (2 * reach + 1),
        "target": [_symbols([v]) for v in target],
        "output": [""] * len(target),
    }
    rows = ["input", "memory", "target", "output"] if memory else ["input", "target", "output"]
    steps = int(episodes.live[:, 0].sum())  # the episode's steps (the batch's longest may run on)
    emitted_count = 0

    def state(t: int) -> dict:
        """The tapes before step t (after the last step, the input and memory heads are drawn where it
        read)."""
        at = min(t, steps - 1)
        heads = [("input head", 0, int(episodes.input_pos[at, 0]) + 1)]
        if memory:
            heads.append(("memory head", 1, int(episodes.memory_pos[at, 0]) + reach))  # type: ignore[index]
        heads.append(("output head", rows.index("target"), min(len(target) - 1, emitted_count)))
        return {"grid": [(name, list(grid[name])) for name in rows], "pointers": heads}

    predicted = scores.prediction_logits.argmax(-1)[:, 0].tolist()
    confidence = torch.softmax(scores.prediction_logits[:, 0].float(), -1).max(-1).values.tolist()
    probabilities = torch.softmax(scores.action_logits[:, 0].float(), -1).tolist()  # (T, 3, 3)
    rec = Recording(title, "model", problem, state(0))
    rec.root(f"{task.name}: {len(target) - 1} symbols to write")
    emitted: list[int] = []
    departure = None
    for t in range(steps):
        moves = [f"input {MOVES[int(episodes.actions[t, 0, 0])]}"]
        if memory:
            moves.append(f"memory {MOVES[int(episodes.actions[t, 0, 1])]}")
            if float(scores.memory_change[t, 0]) > 0.5:  # type: ignore[index]
                grid["memory"][int(episodes.memory_pos[t, 0]) + reach] = "*"  # type: ignore[index]
        note = f"predicts {_symbols([predicted[t]])} (p {confidence[t]:.2f})"
        if bool(episodes.advance[t, 0]):
            wanted = int(episodes.target[t, 0])
            forced = bool(episodes.forced[t, 0])
            moves.append(
                f"emit {_symbols([predicted[t]])}" + (" (forced by the step bound)" if forced else "")
            )
            grid["output"][emitted_count] = _symbols([predicted[t]])
            emitted.append(predicted[t])
            emitted_count += 1
            if predicted[t] != wanted and departure is None:
                departure = {
                    "step": t,
                    "expected": f"emit {_symbols([wanted])}",
                    "title": "emits a wrong symbol",
                }
        top = [
            (f"{head} {name}", p)
            for head, row in zip(("input", "memory", "output"), probabilities[t], strict=True)
            if head != "memory" or memory
            for name, p in zip(("wait", "emit", "") if head == "output" else MOVES, row, strict=True)
            if name and p > 0
        ]
        rec.step(0, "controller", ", ".join(moves), state(t + 1), top=top, note=note)
    output, expected = task.answer(emitted), task.expected(problem)
    return rec.finish(
        output=output,
        expected=expected,
        halted=True,
        correct=output == expected,
        departure=departure,
        scores_title="action probabilities",
    )


def _episode(model: RLNTM, task: TapeTask, problem: dict, oracle: bool) -> tuple[TapeBatch, Episodes, Scores]:
    """One problem's greedy episode and the controller's outputs along it (for `show` and `page`)."""
    if oracle:
        raise ValueError("an RL-NTM has no oracle trace; --oracle applies to models that call programs")
    was_training = model.training
    model.eval()
    tapes = TapeBatch.of(
        task, [problem], window=model.window, cell_size=model.config.cell_size, device=model.bias.device
    )
    episodes = rollout(model, tapes, greedy)
    scores = score(model, episodes)
    model.train(was_training)
    return tapes, episodes, scores


def _symbols(symbols: list[int]) -> str:
    return " ".join({END: "$", BLANK: "."}.get(s, str(s)) for s in symbols)
