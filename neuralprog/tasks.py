"""The task interface shared by the oracle, the trainer, the interpreter and the CLI.

A task binds an environment to a program set: how to read and check a problem, how to build a batch of
environment states (a `Machine`) for the interpreter, the reference program (oracle) that writes traces,
the expected answer, and what the model observes (`ObsSpec`). Each environment module defines its task
next to its env; `neuralprog.registry` lists them all. This module holds protocols only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias

import numpy as np

from neuralprog.programs import ProgramSet

Args: TypeAlias = tuple[int, ...]
Calls: TypeAlias = Iterator["str | tuple[str, Args]"]
"""What an oracle program yields: the calls it makes, as a name (no arguments) or (name, args)."""


class Recorder(Protocol):
    """What an oracle program sees while it runs (`neuralprog.traces.Recorder` is one)."""

    problem: dict
    """The (parsed) problem being solved."""

    def obs(self) -> tuple:
        """The machine's current observation."""
        ...


@dataclass(frozen=True)
class ObsSpec:
    """What a machine shows the model at each step: named fields, discrete or real-valued."""

    names: tuple[str, ...]
    """One name per field (addition: IN1, IN2, CARRY, OUT)."""
    sizes: tuple[int, ...] | None = None
    """Discrete fields: field f takes values 0..sizes[f]-1. None: real-valued fields (a float vector,
    such as positions relative to a gripper)."""
    image: int = 0
    """Discrete fields only. 0: none is an image. Else field 0 is the index of an RGB image of
    image x image pixels in the task's image bank (`Task.image_bank`): the model sees that image's
    pixels, never the index."""

    def __post_init__(self) -> None:
        if self.sizes is not None and (len(self.sizes) != len(self.names) or min(self.sizes, default=1) < 1):
            raise ValueError(f"an ObsSpec needs one size of at least 1 per field, got {self.sizes}")
        if self.image and (self.sizes is None or self.image < 1):
            raise ValueError("an image field is the first of discrete fields, with a positive side")

    @property
    def discrete(self) -> bool:
        return self.sizes is not None

    def check(self, value: object) -> tuple:
        """One observation read from a file, as a tuple; a ValueError when it does not fit the spec."""
        kind = "integers" if self.discrete else "numbers"
        if not isinstance(value, list) or len(value) != len(self.names):
            raise ValueError(f"obs must be a list of {len(self.names)} {kind}")
        if any(
            isinstance(v, bool) or not isinstance(v, int if self.discrete else int | float) for v in value
        ):
            raise ValueError(f"obs must be a list of {len(self.names)} {kind}, got {value!r}")
        if self.sizes is not None and any(not 0 <= v < n for v, n in zip(value, self.sizes, strict=True)):
            raise ValueError(f"obs {value} out of range (field sizes {list(self.sizes)})")
        return tuple(value)


class Machine(Protocol):
    """A batch of environment states, driven in lockstep by primitive actions."""

    batch_size: int

    def observe(self) -> np.ndarray:
        """(B, F): what the model sees of each problem, as its task's `ObsSpec` says (int64 for discrete
        fields, float32 for real-valued ones)."""
        ...

    def act(self, rows: np.ndarray, args: np.ndarray) -> None:
        """Apply ACT(args[i]) to problem rows[i]; args is (len(rows), n_args). Invalid arguments do
        nothing."""
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
    def obs_specs(self) -> tuple[ObsSpec, ...]:
        """What each environment the task's problems use shows the model (one encoder each)."""
        ...

    @property
    def env_obs_sizes(self) -> tuple[tuple[int, ...], ...]:
        """Observation field sizes of each environment (discrete specs only)."""
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
    obs_names: tuple[str, ...]

    @property
    def obs_specs(self) -> tuple[ObsSpec, ...]:
        return (ObsSpec(self.obs_names, self.obs_sizes),)

    @property
    def env_obs_sizes(self) -> tuple[tuple[int, ...], ...]:
        return (self.obs_sizes,)

    def env_index(self, problem: dict) -> int:
        return 0

    def root_of(self, problem: dict) -> str:
        return self.root
