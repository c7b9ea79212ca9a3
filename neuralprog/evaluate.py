"""Evaluation: how often a trained model halts with the right answer, over problem sizes, as tables,
JSON and plots.

Every model family is scored the same way: a run is correct only when it halted (the model returned
from its root program, or ended its episode, within its budgets) and its answer is right. Each size
reports both the accuracy and the share of runs that halted.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neuralprog.execute import RunResult, check
from neuralprog.families import family_of_model


@dataclass
class SizeResult:
    size: int
    n: int
    correct: int
    """Runs that halted with the right answer."""
    halted: int
    """Runs that halted (returned from the root program within the budgets), right or wrong."""
    mean_steps: float
    seconds: float

    @property
    def accuracy(self) -> float:
        return self.correct / self.n

    @property
    def halted_share(self) -> float:
        return self.halted / self.n

    def to_json(self) -> dict:
        return {**asdict(self), "accuracy": self.accuracy, "halted_share": self.halted_share}


def solve(model: Any, task: Any, problems: list[dict]) -> RunResult:
    """Run any family's model on parsed problems, in lockstep, with its family's runner."""
    return family_of_model(model).run(model, task, problems)


def evaluate(
    model: Any,
    task: Any,
    sizes: list[int],
    n: int,
    seed: int = 0,
    batch: int = 100,
) -> list[SizeResult]:
    """Accuracy (halted and right) on `n` random problems per size, run in lockstep batches of `batch`."""
    if n < 1 or batch < 1 or not sizes or min(sizes) < 1:
        raise ValueError("evaluate needs n >= 1, batch >= 1 and sizes of at least 1")
    results = []
    for size in sizes:
        rng = np.random.default_rng([seed, size])
        problems = [task.sample(rng, size) for _ in range(n)]
        started = time.perf_counter()
        correct = halted = steps = 0
        for lo in range(0, n, batch):
            chunk = problems[lo : lo + batch]
            result = solve(model, task, chunk)
            correct += int(check(task, chunk, result).sum())
            halted += int(result.halted.sum())
            steps += int(result.steps.sum())
        results.append(SizeResult(size, n, correct, halted, steps / n, time.perf_counter() - started))
    return results


@dataclass
class SetResult:
    """How a model did on a fixed set of problems (a split of a protocol)."""

    n: int
    correct: int
    halted: int
    counts: dict[str, int]
    """Summed per-problem event counts of the runner (NTP: wrong_pick, wrong_place)."""
    seconds: float

    @property
    def accuracy(self) -> float:
        return self.correct / self.n

    def to_json(self) -> dict:
        return {**asdict(self), "accuracy": self.accuracy}


def evaluate_set(model: Any, task: Any, problems: list[dict], batch: int = 500) -> SetResult:
    """Correct (halted and right) and halted counts over given problems, in lockstep batches."""
    if not problems or batch < 1:
        raise ValueError("evaluate_set needs at least one problem and batch >= 1")
    started = time.perf_counter()
    correct = halted = 0
    counts: dict[str, int] = {}
    for lo in range(0, len(problems), batch):
        chunk = problems[lo : lo + batch]
        result = solve(model, task, chunk)
        correct += int(check(task, chunk, result).sum())
        halted += int(result.halted.sum())
        for name, values in result.counts.items():
            counts[name] = counts.get(name, 0) + int(values.sum())
    return SetResult(len(problems), correct, halted, counts, time.perf_counter() - started)


def plot(results: list[SizeResult], path: str | Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    sizes = [r.size for r in results]
    ax.plot(sizes, [100 * r.accuracy for r in results], "o-", label="correct (halted, right answer)")
    ax.plot(sizes, [100 * r.halted_share for r in results], "s--", alpha=0.6, label="halted")
    ax.set_xscale("log")
    ax.set_ylim(-2, 102)
    ax.set_xlabel("problem size")
    ax.set_ylabel("% of problems")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
