"""The task interface shared by the oracle, the trainer, the interpreter and the CLI.

A task binds an environment to a program set: how to read and check a problem, how to build a batch of
environment states (a `Machine`) for the interpreter, the reference program (oracle) that writes traces,
and the expected answer. Each environment module defines its task next to its env and registers it here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

import numpy as np

from neuralprog.programs import ProgramSet

if TYPE_CHECKING:
    from neuralprog.traces import Recorder

Args: TypeAlias = tuple[int, int, int]
Calls: TypeAlias = Iterator["str | tuple[str, Args]"]
"""What an oracle program yields: the calls it makes, as a name (no arguments) or (name, args)."""


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
    oracle: dict[str, Callable[[Recorder, Args], Calls]]
    """The reference program of each non-primitive program: a generator of calls (see traces.Recorder)."""
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

    def verification_problems(self) -> list[dict]:
        """Problems whose traces contain every step situation of every program (see `neuralprog.verify`);
        raise ValueError when the task has no finite verification set."""
        ...

    @property
    def env_obs_sizes(self) -> tuple[tuple[int, ...], ...]:
        """Observation field sizes of each environment the task's problems use (one encoder each)."""
        ...

    def env_index(self, problem: dict) -> int:
        """Which of those environments (and encoders) a problem uses."""
        ...

    def root_of(self, problem: dict) -> str:
        """The program that solves a problem."""
        ...


class SingleEnvTask:
    """What a task over one environment with one root program shares: its problems all use encoder 0."""

    root: str
    obs_sizes: tuple[int, ...]

    @property
    def env_obs_sizes(self) -> tuple[tuple[int, ...], ...]:
        return (self.obs_sizes,)

    def env_index(self, problem: dict) -> int:
        return 0

    def root_of(self, problem: dict) -> str:
        return self.root


TASKS: dict[str, Task] = {}


def register_task(task: Task) -> None:
    TASKS[task.name] = task


def get_task(name: str) -> Task:
    import neuralprog.envs  # noqa: F401  (registers the built-in tasks)

    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}")
    return TASKS[name]
