"""Gymnasium views of the tabletop tasks, for users who drive the robot's API themselves.

## Description
A floating gripper, 5 cm cubes and (order fulfillment) containers on a table; see
`neuralprog.envs.tabletop.tasks` for the two tasks and `neuralprog.envs.tabletop.world` for the API.

## Action Space
`MultiDiscrete([4, 8])`: (API call, object argument). Calls: 0 move(object), 1 move_grasp,
2 move_drop, 3 move_release (the last three ignore the argument).

## Observation Space
`Box(-2, 2, (26,), float32)`: each task object's xyz relative to the gripper, then one-hot (open,
holding).

## Starting State
The problem's start layout (its `seed`); the gripper at its home above the table.

## Reward
1 on the step that completes the task, else 0.

## Episode End
Terminated when the task is complete or an API call breaks a rule (see `info["failure"]`); truncated
after twice the expert's API calls plus 10.

## Arguments
`size`: goals (block stacking: 1-6) or objects per category (order fulfillment: 1-10) of a random
problem; `reset(options={...})` takes an explicit problem instead, or `{"size": n}`. `backend`:
"kinematic" (default) or "mujoco" (physics: `info` then counts toppled blocks and towers knocked over).
`render_mode`: "ansi" (text) or "rgb_array" (kinematic: top and side views; mujoco: a camera's image).

## Version History
v0: first version.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from neuralprog.envs.tabletop import render
from neuralprog.envs.tabletop.tasks import BLOCK_STACKING, ORDER_FULFILLMENT, TabletopTask
from neuralprog.envs.tabletop.world import KinematicWorld

_TASKS = {"block-stacking": BLOCK_STACKING, "order-fulfillment": ORDER_FULFILLMENT}


class TabletopEnv(gym.Env):
    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 2}

    def __init__(
        self,
        task: str = "block-stacking",
        size: int = 2,
        render_mode: str | None = None,
        backend: str = "kinematic",
    ):
        if task not in _TASKS:
            raise ValueError(f"unknown tabletop task {task!r}; known: {', '.join(_TASKS)}")
        if render_mode not in (None, "ansi", "rgb_array"):
            raise ValueError(f"unsupported render_mode {render_mode!r}; use 'ansi' or 'rgb_array'")
        self.task: TabletopTask = _TASKS[task].using(backend)
        self.size = size
        self.render_mode = render_mode
        self.action_space = gym.spaces.MultiDiscrete([4, self.task.n_objects])
        self.observation_space = gym.spaces.Box(-2.0, 2.0, (self.task.obs_size,), np.float32)
        self._world: KinematicWorld | None = None
        self._problem: dict = {}
        self._calls = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        options = dict(options or {})
        size = int(options.pop("size", self.size))
        self._problem = self.task.parse(options) if options else self.task.sample(self.np_random, size)
        self._world = self.task.world([self._problem])
        self._calls = 0
        return self._observation(), self._info()

    def step(self, action):
        assert self._world is not None, "call reset() before step()"
        api, arg = (int(a) for a in np.asarray(action).reshape(2))
        at = np.zeros(1, dtype=np.int64)
        self._world.apply(at, np.array([api]), self.task.resolve(self._world, at, np.array([arg])))
        self._calls += 1
        info = self._info()
        terminated = bool(info["correct"] or self._world.failed[0])
        truncated = not terminated and self._calls >= 2 * 4 * self.task.goals(self._problem) + 10
        return self._observation(), float(info["correct"]), terminated, truncated, info

    def render(self) -> str | np.ndarray | None:
        if self._world is None or self.render_mode is None:
            return None
        if self.render_mode == "rgb_array" and self.task.backend == "mujoco":
            return self._world.render(0, camera=2, size=(240, 320))[0]  # type: ignore[attr-defined]
        if self.render_mode == "rgb_array":
            return render.picture(self._world, 0)  # the top and side views of `trace --frames`
        return render.text(self._world, 0)

    def _observation(self) -> np.ndarray:
        assert self._world is not None
        return np.clip(self.task.observe(self._world)[0], -2.0, 2.0)

    def _info(self) -> dict[str, Any]:
        assert self._world is not None
        output = self.task.outputs(self._world, [self._problem])[0]
        return {
            **{k: v for k, v in self._problem.items() if k != "demonstration"},
            "output": output,
            "correct": output == self.task.expected(self._problem),
            "failure": self._world.reasons[0],
            "toppled": int(self._world.toppled[0]),
            "knocked": int(self._world.knocked[0]),
        }
