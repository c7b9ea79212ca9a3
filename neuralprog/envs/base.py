"""A Gymnasium env over any task's batched machine: one problem, one ACT per step.

NPI learns from traces rather than rewards, so the envs exist for users who want to drive the machines
by hand or from generic RL code: reward is always 0, `info["correct"]` says whether the machine holds
the expected answer, and the episode is truncated after a step budget.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from neuralprog.tasks import Machine, Task


class TaskEnv(gym.Env):
    """Base class: subclasses set `task`, `size_option` and the two spaces."""

    metadata = {"render_modes": ["ansi"], "render_fps": 4}
    task: Task
    size_option: str
    """The reset option that asks for a random problem of that size ("digits", "length")."""

    def __init__(self, size: int, max_steps: int | None = None, render_mode: str | None = None):
        if size < 1:
            raise ValueError(f"{self.size_option} must be at least 1, got {size}")
        if render_mode not in (None, "ansi"):
            raise ValueError(f"unsupported render_mode {render_mode!r}; use 'ansi'")
        self.size = size
        self.max_steps = max_steps
        self.render_mode = render_mode
        self._machine: Machine | None = None
        self._problem: dict = {}
        self._steps = 0
        self._budget = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        options = dict(options or {})
        size = int(options.pop(self.size_option, self.size))
        if options:  # an explicit problem
            problem = self.task.parse(options)
        else:
            if size < 1:
                raise ValueError(f"{self.size_option} must be at least 1, got {size}")
            problem = self.task.sample(self.np_random, size)
        self._problem = problem
        self._machine = self.task.machine([problem])
        self._steps = 0
        self._budget = self.max_steps or self.task.step_budget(problem)
        return self._observation(), self._info()

    def step(self, action):
        assert self._machine is not None, "call reset() before step()"
        args = np.asarray(action, dtype=np.int64).reshape(1, 3)
        self._machine.act(np.zeros(1, dtype=np.int64), args)
        self._steps += 1
        truncated = self._steps >= self._budget
        return self._observation(), 0.0, False, truncated, self._info()

    def render(self) -> str | None:
        if self.render_mode != "ansi" or self._machine is None:
            return None
        return self._machine.render(0)

    def _observation(self) -> np.ndarray:
        assert self._machine is not None
        return self._machine.observe()[0]

    def _info(self) -> dict[str, Any]:
        assert self._machine is not None
        output = self._machine.outputs()[0]
        return {**self._problem, "output": output, "correct": output == self.task.expected(self._problem)}
