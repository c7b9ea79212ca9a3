"""Programs and program sets: names, ids, which programs are primitive, and who may call whom.

A program set declares the argument spec of its calls: `n_args` integers, each below `arg_size` (NPI's
convention is three below 10; a family may declare others, such as the start and end of a span of a
task specification plus an object index). Only primitive programs (ACT) reach the environment; the others
exist only in the executor's call stack.
"""

from __future__ import annotations

from dataclasses import dataclass

N_ARGS = 3
"""NPI's calls carry three integer arguments (the default argument spec)."""

NO_ARGS = (0, 0, 0)
"""The arguments of a call that takes none, under the default spec."""


@dataclass(frozen=True)
class Program:
    """One program of a program set."""

    name: str
    """Upper-case name, as in the papers (ADD, LSHIFT, ACT)."""
    primitive: bool = False
    """True for ACT: its call is an environment action instead of a new call frame."""
    calls: tuple[str, ...] = ()
    """The programs this one may call (used to validate traces and to forbid calls to new programs)."""
    doc: str = ""
    """One line saying what the program does."""


@dataclass(frozen=True)
class ProgramSet:
    """An ordered set of programs; a program's id is its index."""

    programs: tuple[Program, ...]
    arg_size: int = 10
    """Each argument takes a value in 0..arg_size-1."""
    n_args: int = N_ARGS
    """Arguments per call."""

    def __post_init__(self) -> None:
        if self.arg_size < 1 or self.n_args < 1:
            raise ValueError(f"arg_size and n_args must be at least 1, got {self.arg_size}, {self.n_args}")
        names = [p.name for p in self.programs]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate program names in {names}")
        for p in self.programs:
            unknown = [c for c in p.calls if c not in names]
            if unknown:
                raise ValueError(f"program {p.name} calls unknown programs {unknown}")

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.programs]

    def __len__(self) -> int:
        return len(self.programs)

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def id(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise ValueError(f"unknown program {name!r}; known: {', '.join(self.names)}") from None

    def __getitem__(self, name: str) -> Program:
        return self.programs[self.id(name)]

    @property
    def no_args(self) -> tuple[int, ...]:
        """The arguments of a call without arguments (all zero)."""
        return (0,) * self.n_args

    def check_args(self, args: object, name: str = "args") -> tuple[int, ...]:
        """`args` as a tuple if it follows the argument spec; else a ValueError naming `name`."""
        if not isinstance(args, list | tuple) or len(args) != self.n_args:
            raise ValueError(f"{name} must be a list of {self.n_args} integers")
        if any(not isinstance(v, int) or isinstance(v, bool) for v in args):
            raise ValueError(f"{name} must be a list of {self.n_args} integers, got {list(args)!r}")
        if any(not 0 <= v < self.arg_size for v in args):
            raise ValueError(f"{name} {list(args)} out of range 0..{self.arg_size - 1}")
        return tuple(args)

    def primitive_mask(self) -> list[bool]:
        return [p.primitive for p in self.programs]

    def to_json(self) -> dict:
        data: dict = {
            "arg_size": self.arg_size,
            "programs": [
                {"name": p.name, "primitive": p.primitive, "calls": list(p.calls), "doc": p.doc}
                for p in self.programs
            ],
        }
        if self.n_args != N_ARGS:  # files of the default spec stay as they were before n_args existed
            data["n_args"] = self.n_args
        return data

    @classmethod
    def from_json(cls, data: object) -> ProgramSet:
        """The program set a checkpoint or file describes; a ValueError when it is malformed."""
        try:
            assert isinstance(data, dict)
            programs = tuple(
                Program(str(p["name"]), bool(p["primitive"]), tuple(p["calls"]), str(p.get("doc", "")))
                for p in data["programs"]
            )
            return cls(programs, int(data["arg_size"]), int(data.get("n_args", N_ARGS)))
        except (AssertionError, KeyError, TypeError, ValueError) as e:
            raise ValueError(f"malformed program set ({type(e).__name__}: {e})") from None
