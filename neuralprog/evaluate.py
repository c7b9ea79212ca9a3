"""Evaluation: exact-match accuracy of a trained model over problem sizes, as tables, JSON and plots.

The seq2seq baseline is scored on the same problems as NPI: its steps are decoder steps, and it halts
when it emits EOS.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from neuralprog.envs.tapes import TapeTask
from neuralprog.execute import RunResult, run
from neuralprog.models.baselines import Seq2Seq
from neuralprog.models.npi import NPI
from neuralprog.models.rlntm import RLNTM
from neuralprog.tasks import Task


@dataclass
class SizeResult:
    size: int
    n: int
    correct: int
    halted: int
    mean_steps: float
    seconds: float

    @property
    def accuracy(self) -> float:
        return self.correct / self.n

    def to_json(self) -> dict:
        return {**asdict(self), "accuracy": self.accuracy}


def check(task: Task | TapeTask, problems: list[dict], outputs: list) -> list[bool]:
    return [output == task.expected(p) for p, output in zip(problems, outputs, strict=True)]


def solve(model: NPI | Seq2Seq | RLNTM, task: Task | TapeTask, problems: list[dict]) -> RunResult:
    """Run an NPI (the interpreter), a seq2seq baseline (greedy decoding) or an RL-NTM (greedy actions)
    on parsed problems."""
    if isinstance(model, RLNTM):
        from neuralprog.train.reinforce import run as run_rlntm

        assert isinstance(task, TapeTask)
        return run_rlntm(model, task, problems)
    assert not isinstance(task, TapeTask)
    if isinstance(model, Seq2Seq):
        from neuralprog.train.seq2seq import run_seq2seq  # here: the trainers must be free to import us

        return run_seq2seq(model, task.name, problems)
    return run(model, task, problems)


def evaluate(
    model: NPI | Seq2Seq | RLNTM,
    task: Task | TapeTask,
    sizes: list[int],
    n: int,
    seed: int = 0,
    batch: int = 100,
) -> list[SizeResult]:
    """Exact-match accuracy on `n` random problems per size, run in lockstep batches of `batch`."""
    results = []
    for size in sizes:
        rng = np.random.default_rng([seed, size])
        problems = [task.sample(rng, size) for _ in range(n)]
        started = time.perf_counter()
        correct = halted = steps = 0
        for lo in range(0, n, batch):
            chunk = problems[lo : lo + batch]
            result = solve(model, task, chunk)
            correct += sum(check(task, chunk, result.outputs))
            halted += int(result.halted.sum())
            steps += int(result.steps.sum())
        results.append(SizeResult(size, n, correct, halted, steps / n, time.perf_counter() - started))
    return results


def plot(results: list[SizeResult], path: str | Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot([r.size for r in results], [100 * r.accuracy for r in results], "o-")
    ax.set_xscale("log")
    ax.set_ylim(-2, 102)
    ax.set_xlabel("problem size")
    ax.set_ylabel("exact-match accuracy (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
