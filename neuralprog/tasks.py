"""The task interface shared by the oracle, the trainer, the interpreter and the CLI.

A task binds an environment to a program set: how to read and check a problem, how to build a batch of
environment states (a `Machine`) for the interpreter, the reference program (oracle) that writes traces,
and the expected answer. Each environment module defines its task next to its env and registers it here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from neuralprog.programs import ProgramSet

if TYPE_CHECKING:
    from neuralprog.traces import Recorder


class Machine(Protocol):
    """A batch of environment states, driven in lockstep by primitive actions."""

    batch_size: int

    def observe(self) -> np.ndarray:
        """(B, F) int64: what the model sees of each problem; field f takes values 0..obs_sizes[f]-1."""
        ...

    def act(self, rows: np.ndarray, args: np.ndarray) -> None:
        """Apply ACT(args[i]) to problem rows[i]; args is (len(rows), 3). Invalid arguments do nothing."""
        ...

    def outputs(self) -> list[Any]:
        """The answer each problem currently holds (for addition: the output row as a digit string)."""
        ...

    def render(self, row: int) -> str:
        """A text drawing of one problem's state, pointers included."""
        ...


class Task(Protocol):
    """Everything the library needs to know about one family of problems."""

    name: str
    env_id: str
    programs: ProgramSet
    root: str
    obs_sizes: tuple[int, ...]
    obs_names: tuple[str, ...]
    oracle: dict[str, Callable[[Recorder, tuple[int, int, int]], None]]
    problem_example: str

    def parse(self, problem: Any) -> dict:
        """Validate a problem and return its canonical form; raise ValueError with a clear message."""
        ...

    def sample(self, rng: np.random.Generator, size: int) -> dict:
        """A random problem of the given size (for addition: digits)."""
        ...

    def size(self, problem: dict) -> int: ...

    def machine(self, problems: list[dict]) -> Machine: ...

    def expected(self, problem: dict) -> Any: ...

    def step_budget(self, problem: dict) -> int:
        """Model steps after which a run counts as failed (never a hang)."""
        ...

    def depth_budget(self, problem: dict) -> int:
        """Call-stack depth after which a run counts as failed."""
        ...

    def describe_action(self, args: tuple[int, ...]) -> str:
        """A readable form of an ACT call, such as 'WRITE OUT 7'."""
        ...


TASKS: dict[str, Task] = {}


def register_task(task: Task) -> None:
    TASKS[task.name] = task


def get_task(name: str) -> Task:
    import neuralprog.envs  # noqa: F401  (registers the built-in tasks)

    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}")
    return TASKS[name]
