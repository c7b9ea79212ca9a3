"""What every runner returns, and what counts as a correct run.

A run is correct only when the model halted (returned from its root program, or ended its episode,
within its budgets) AND its answer equals the expected one: a model that never returns scores nothing,
whatever its machine happens to hold when it is stopped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch


@dataclass
class RunResult:
    outputs: list[Any]
    steps: np.ndarray  # (B,) model steps taken
    halted: np.ndarray  # (B,) True when the run ended by the model's own decision within the budgets
    failure: list[str | None] = field(default_factory=list)  # why a problem did not halt
    counts: dict[str, np.ndarray] = field(default_factory=dict)  # per-problem event counts (NTP mistakes)


class Expects(Protocol):
    def expected(self, problem: dict) -> Any: ...


def check(task: Expects, problems: list[dict], result: RunResult) -> np.ndarray:
    """(B,) bool: which runs are correct, i.e. halted with the expected answer."""
    right = [output == task.expected(p) for p, output in zip(problems, result.outputs, strict=True)]
    return np.asarray(right, dtype=bool) & np.asarray(result.halted, dtype=bool)


def attach_images(model: Any, task: Any) -> None:
    """Give a model that reads images (an NPI with a CNN encoder) its task's image banks, once: the
    banks are not saved in checkpoints, since the task renders or loads them from its cache."""
    for env in getattr(model, "needs_images", list)():
        model.set_images(env, torch.from_numpy(task.image_bank(env)))
