"""Programs and program sets: names, ids, which programs are primitive, and who may call whom.

Every program takes a 3-tuple of small integer arguments (NPI's convention). Only primitive programs
(ACT) reach the environment; the others exist only in the executor's call stack.
"""

from __future__ import annotations

from dataclasses import dataclass

N_ARGS = 3
"""Every call carries exactly three integer arguments."""

NO_ARGS = (0, 0, 0)


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

    def __post_init__(self) -> None:
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

    def primitive_mask(self) -> list[bool]:
        return [p.primitive for p in self.programs]

    def to_json(self) -> dict:
        return {
            "arg_size": self.arg_size,
            "programs": [
                {"name": p.name, "primitive": p.primitive, "calls": list(p.calls), "doc": p.doc}
                for p in self.programs
            ],
        }

    @classmethod
    def from_json(cls, data: dict) -> ProgramSet:
        programs = tuple(
            Program(p["name"], bool(p["primitive"]), tuple(p["calls"]), p.get("doc", ""))
            for p in data["programs"]
        )
        return cls(programs, int(data["arg_size"]))
