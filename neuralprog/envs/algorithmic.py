"""Gym's classic algorithmic environments, for users of generic RL libraries.

OpenAI Gym's former `algorithmic` family grew out of the RL-NTM work. These keep its rules exactly:
the observation is the symbol under the read head (`base` when the head is off the input), an action is
(move, write or not, symbol), a correct write earns +1, a wrong one -0.5 and ends the episode, the
episode ends when the last target is written, and running past the time limit (input width + target
length + 4 steps) earns -1 and truncates it. What differs: Gym grew each env's problem length inside
reset() by a curriculum shared across instances; here the length comes in through
`reset(options={"size": n})` (default: drawn from Gym's starting range, 2..4, Reverse 1..3), and
curricula stay outside environments.

Tasks (base, target): Copy (5, the input), DuplicatedInput (5, every second symbol of an input made of
pairs), Reverse (2, the input reversed), RepeatCopy (5, x + reversed(x) + x), ReversedAddition (3, the
sum of two base-3 numbers written least significant digit first, read from a 2-row grid), and
ReversedAddition3 (3, the same with three rows).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

TIME_MARGIN = 4
"""Steps allowed beyond input width + target length (Gym's rule)."""


class AlgorithmicEnv(gym.Env):
    """### Description
    One of Gym's algorithmic tasks (see the module docstring), chosen by `task`.

    ### Action Space
    `Tuple(Discrete(moves), Discrete(2), Discrete(base))`: the read-head move (tapes: 0 left, 1 right;
    grids: 0 left, 1 right, 2 up, 3 down), 1 to write, the symbol to write.

    ### Observation Space
    `Discrete(base + 1)`: the symbol under the read head; `base` means off the input.

    ### Starting State
    Read head on the first cell (grids: top-left), write head on the first target cell.

    ### Reward
    +1 per correct write; -0.5 for a wrong write; -1 when the time limit passes.

    ### Episode End
    Terminated after the last target is written or after a wrong write; truncated when more than
    input width + target length + 4 steps have passed.

    ### Arguments
    `task`, and `reset(options={"size": n})` for a problem of n input columns, or
    `reset(options={"input": [...]})` for an explicit one (grids: a list of columns).

    ### Version History
    v0: Gym's rules without the curriculum inside reset().
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}
    TASKS = {
        "Copy": (5, 1),
        "DuplicatedInput": (5, 1),
        "Reverse": (2, 1),
        "RepeatCopy": (5, 1),
        "ReversedAddition": (3, 2),
        "ReversedAddition3": (3, 3),
    }
    """task -> (base, rows); one row is a tape, more rows a grid read column by column."""

    def __init__(self, task: str, render_mode: str | None = None):
        if task not in self.TASKS:
            raise ValueError(f"unknown algorithmic task {task!r}; known: {', '.join(self.TASKS)}")
        if render_mode not in (None, "ansi"):
            raise ValueError(f"unsupported render_mode {render_mode!r}; use 'ansi'")
        self.task, self.render_mode = task, render_mode
        self.base, self.rows = self.TASKS[task]
        self.moves = [(-1, 0), (1, 0)] + ([(0, -1), (0, 1)] if self.rows > 1 else [])
        self.action_space = gym.spaces.Tuple(
            (gym.spaces.Discrete(len(self.moves)), gym.spaces.Discrete(2), gym.spaces.Discrete(self.base))
        )
        self.observation_space = gym.spaces.Discrete(self.base + 1)
        self.input: list[list[int]] = []  # columns, each of `rows` symbols
        self.target: list[int] = []

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        options = dict(options or {})
        if "input" in options:
            self.input = self._parse(options["input"])
        else:
            start = 1 if self.task == "Reverse" else 2  # Gym's starting minimum lengths
            size = int(options.get("size", start + self.np_random.integers(0, 3)))
            if size < 1:
                raise ValueError(f"size must be at least 1, got {size}")
            self.input = self._generate(size)
        self.target = self._target(self.input)
        self.read, self.written, self.time = (0, 0), 0, 0
        self.last_action: tuple | None = None
        return self._observation(), {"target": list(self.target)}

    def step(self, action):
        move, write, symbol = (int(a) for a in action)
        terminated = truncated = False
        reward = 0.0
        self.time += 1
        if write == 1:
            correct = self.written < len(self.target) and symbol == self.target[self.written]
            reward = 1.0 if correct else -0.5
            terminated = not correct
            self.written += 1
            terminated = terminated or self.written >= len(self.target)
        dx, dy = self.moves[move]
        self.read = (self.read[0] + dx, self.read[1] + dy)
        if self.time > self.time_limit:
            reward, truncated = -1.0, True
        self.last_action = (move, write, symbol)
        return self._observation(), reward, terminated, truncated, {"target": list(self.target)}

    @property
    def time_limit(self) -> int:
        return len(self.input) + len(self.target) + TIME_MARGIN

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        lines = []
        for y in range(self.rows):
            cells = [str(column[y]) for column in self.input]
            marks = ["^" if (x, y) == self.read else " " for x in range(len(self.input))]
            lines += ["input  " + " ".join(cells), "       " + " ".join(marks)]
        lines.append("target " + " ".join(map(str, self.target)))
        lines.append("written " + str(self.written))
        return "\n".join(lines) + "\n"

    def _observation(self) -> int:
        x, y = self.read
        if 0 <= x < len(self.input) and 0 <= y < self.rows:
            return self.input[x][y]
        return self.base

    def _generate(self, size: int) -> list[list[int]]:
        r = self.np_random
        if self.task == "DuplicatedInput":  # Gym: pairs of equal symbols, at least one pair
            symbols = r.integers(0, self.base, size=max(size, 2) // 2)
            return [[int(s)] for s in np.repeat(symbols, 2)]
        return [[int(s) for s in r.integers(0, self.base, size=self.rows)] for _ in range(size)]

    def _parse(self, tape) -> list[list[int]]:
        columns = [c if isinstance(c, list) else [c] for c in tape] if isinstance(tape, list) else None
        if not columns or any(
            len(c) != self.rows or any(type(s) is not int or not 0 <= s < self.base for s in c)
            for c in columns
        ):
            shape = "symbols" if self.rows == 1 else f"columns of {self.rows} digits"
            raise ValueError(
                f"{self.task} input is a non-empty list of {shape} 0-{self.base - 1}, got {tape!r}"
            )
        return columns

    def _target(self, columns: list[list[int]]) -> list[int]:
        x = [c[0] for c in columns]
        if self.task == "Copy":
            return x
        if self.task == "DuplicatedInput":
            return x[::2]
        if self.task == "Reverse":
            return x[::-1]
        if self.task == "RepeatCopy":
            return x + x[::-1] + x
        target, carry = [], 0  # ReversedAddition(3): digits least significant first
        for column in columns:
            total = sum(column) + carry
            target.append(total % self.base)
            carry = total // self.base
        return target + ([carry] if carry else [])
