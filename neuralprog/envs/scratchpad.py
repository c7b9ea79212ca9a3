"""Scratch-pad environments (NPI, Reed & de Freitas 2015): multi-digit addition.

The pad is a grid of digit cells with one pointer per row. `AdditionPads` holds a whole batch of pads as
NumPy arrays, so the interpreter can drive hundreds of problems with one call per step; the Gymnasium
env `AdditionEnv` is a batch of one. The reference programs (the oracle, Table 2 of the paper) live at
the end of the file, next to the task that ties everything together.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from neuralprog.envs.base import TaskEnv
from neuralprog.programs import Program, ProgramSet
from neuralprog.tasks import Args, Calls, Recorder, SingleEnvTask

BLANK = 10
"""Cell value of an empty cell; digits are 0..9."""
ROWS = ("IN1", "IN2", "CARRY", "OUT")
IN1, IN2, CARRY, OUT = range(4)
MOVE, WRITE = 0, 1
"""ACT argument 0: the operation."""
LEFT, RIGHT = 0, 1
"""ACT argument 2 of a MOVE: the direction."""
MARGIN = 2
"""Blank columns left of the longest input: one for the final carry, one to step past it."""


def parse_addition(problem: Any) -> dict:
    """Check an addition problem {"a": "123", "b": "45"} and return it with plain digit strings."""
    if not isinstance(problem, dict):
        raise ValueError(f'an addition problem is an object like {{"a": "96", "b": "25"}}, got {problem!r}')
    missing = [k for k in ("a", "b") if k not in problem]
    if missing:
        raise ValueError(f"addition problem lacks {' and '.join(repr(k) for k in missing)}")
    out = dict(problem)
    for key in ("a", "b"):
        value = problem[key]
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value or not value.isascii() or not value.isdigit():
            raise ValueError(
                f"addition operand {key!r} must be a non-empty string of digits 0-9 (no sign), got {value!r}"
            )
        out[key] = value
    return out


def add_digit_strings(a: str, b: str) -> str:
    """Column-wise sum of two digit strings, as the scratch pad computes it (keeps leading zeros)."""
    width = max(len(a), len(b))
    x = np.zeros(width + 1, dtype=np.int64)
    x[width + 1 - len(a) :] += np.frombuffer(a.encode(), np.uint8) - 48
    x[width + 1 - len(b) :] += np.frombuffer(b.encode(), np.uint8) - 48
    carry = 0
    digits = x.tolist()
    for i in range(width, -1, -1):
        carry, digits[i] = divmod(digits[i] + carry, 10)
    text = "".join(map(str, digits))
    return text[1:] if text[0] == "0" else text


class AdditionPads:
    """A batch of addition scratch pads: 4 rows (IN1, IN2, CARRY, OUT), one pointer per row.

    Columns run left to right in memory; every pointer starts on the rightmost column (the units).
    """

    def __init__(self, problems: list[dict]):
        self.batch_size = len(problems)
        width = max(max(len(p["a"]), len(p["b"])) for p in problems) + MARGIN
        self.pad = np.full((self.batch_size, 4, width), BLANK, dtype=np.int8)  # (B, 4, W)
        for i, p in enumerate(problems):
            for row, number in ((IN1, p["a"]), (IN2, p["b"])):
                self.pad[i, row, width - len(number) :] = np.frombuffer(number.encode(), np.uint8) - 48
        self.ptr = np.full((self.batch_size, 4), width - 1, dtype=np.int64)  # (B, 4)
        self._rows = np.arange(4)

    @property
    def width(self) -> int:
        return self.pad.shape[2]

    def observe(self) -> np.ndarray:
        batch = np.arange(self.batch_size)[:, None]
        return self.pad[batch, self._rows, self.ptr].astype(np.int64)  # (B, 4)

    def act(self, rows: np.ndarray, args: np.ndarray) -> None:
        op, row, value = args[:, 0], args[:, 1], args[:, 2]
        valid_row = row < 4
        move = valid_row & (op == MOVE) & (value <= RIGHT)
        b, r = rows[move], row[move]
        self.ptr[b, r] = np.clip(self.ptr[b, r] + 2 * value[move] - 1, 0, self.width - 1)
        write = valid_row & (op == WRITE)
        b, r = rows[write], row[write]
        self.pad[b, r, self.ptr[b, r]] = value[write]

    def output(self, i: int) -> str:
        cells = self.pad[i, OUT]
        return "".join("_" if c == BLANK else chr(48 + c) for c in cells.tolist()).strip("_")

    def outputs(self) -> list[Any]:
        return [self.output(i) for i in range(self.batch_size)]

    def view(self, row: int) -> dict:
        """The pad of problem `row` for `trace --html`: its four rows of cells ("" for a blank) and a
        pointer on each."""
        cells = np.array([str(d) for d in range(10)] + [""])[self.pad[row]].tolist()  # (4, W)
        return {
            "grid": list(zip(ROWS, cells, strict=True)),
            "pointers": [(name, r, int(self.ptr[row, r])) for r, name in enumerate(ROWS)],
        }

    def render(self, row: int, window: int = 64) -> str:
        """The pad of problem `row` with a caret under each pointer; long pads show a window."""
        pointers = self.ptr[row]
        hi = min(self.width, int(pointers.max()) + 3)
        lo = max(0, min(int(pointers.min()) - 2, hi - window))
        lines = []
        for r, name in enumerate(ROWS):
            cells = "".join("." if c == BLANK else chr(48 + c) for c in self.pad[row, r, lo:hi].tolist())
            marks = " " * (int(pointers[r]) - lo) + "^"
            lines.append(f"{name:>5} |{cells}|")
            lines.append(f"{'':>5}  {marks}")
        if lo > 0:
            lines.insert(0, f"(columns {lo}..{hi - 1} of {self.width})")
        return "\n".join(lines)


class AdditionEnv(TaskEnv):
    """Multi-digit addition on NPI's scratch pad.

    ## Description
    Two numbers are written right-aligned in rows IN1 and IN2. A program adds them column by column,
    writing sum digits to OUT and carries (a 1 one column left) to CARRY, moving one pointer per row.

    ## Action Space
    `MultiDiscrete([2, 4, 10])`, the arguments of NPI's primitive ACT: (operation, row, value).
    Operation 0 moves the row's pointer (value 0 = left, 1 = right); operation 1 writes digit `value`
    under the row's pointer. Pointers stop at the pad's edges.

    ## Observation Space
    `MultiDiscrete([11, 11, 11, 11])`: the cell under each row's pointer (0-9 a digit, 10 blank).

    ## Starting State
    The problem from `reset(options={"a": "96", "b": "25"})`, or random numbers of
    `options={"digits": n}` (default: the constructor's `digits`); all pointers on the rightmost column.

    ## Reward
    Always 0: NPI learns from traces, not rewards. `info["correct"]` says whether OUT holds the sum.

    ## Episode End
    The env never terminates by itself: the program decides when it is done. The episode is truncated
    after `max_steps` actions (default: a budget that grows with the number of digits).

    ## Arguments
    `digits` (size of random problems), `max_steps` (None: the task's step budget), `render_mode` ("ansi").

    ## Version History
    v0: initial version.
    """

    size_option = "digits"

    def __init__(self, digits: int = 5, max_steps: int | None = None, render_mode: str | None = None):
        self.task = ADDITION
        super().__init__(digits, max_steps, render_mode)
        self.observation_space = gym.spaces.MultiDiscrete([BLANK + 1] * 4)
        self.action_space = gym.spaces.MultiDiscrete([2, 4, 10])


# ---------------------------------------------------------------------------------------------------
# Programs (Table 2 of the paper) and the oracle that writes their traces.


def addition_programs(recursive: bool) -> ProgramSet:
    """Table 2 of the paper; with `recursive`, ADD calls itself once per column (Cai et al. 2017)."""
    add_calls = ("ADD1", "LSHIFT", "ADD") if recursive else ("ADD1", "LSHIFT")
    return ProgramSet(
        (
            Program("ACT", primitive=True, doc="move a pointer or write a digit: (op, row, value)"),
            Program("ADD", calls=add_calls, doc="multi-digit addition"),
            Program("ADD1", calls=("ACT", "CARRY"), doc="one column: write the sum digit, maybe carry"),
            Program("CARRY", calls=("ACT",), doc="write a 1 in the carry row one column left"),
            Program("LSHIFT", calls=("ACT",), doc="move every pointer one column left"),
            Program("RSHIFT", calls=("ACT",), doc="move every pointer one column right"),
        )
    )


def _add(rec: Recorder, args: Args) -> Calls:
    while not _finished(rec):
        yield "ADD1"
        yield "LSHIFT"


def _add_recursive(rec: Recorder, args: Args) -> Calls:
    """Cai et al. 2017: one column per call frame, then a tail call for the rest."""
    if _finished(rec):
        return
    yield "ADD1"
    yield "LSHIFT"
    yield "ADD"


def _finished(rec: Recorder) -> bool:
    in1, in2, carry, _ = rec.obs()
    return in1 == BLANK and in2 == BLANK and carry == BLANK


def _add1(rec: Recorder, args: Args) -> Calls:
    total = sum(v for v in rec.obs()[:3] if v != BLANK)
    yield "ACT", (WRITE, OUT, total % 10)
    if total >= 10:
        yield "CARRY"


def _carry(rec: Recorder, args: Args) -> Calls:
    yield "ACT", (MOVE, CARRY, LEFT)
    yield "ACT", (WRITE, CARRY, 1)
    yield "ACT", (MOVE, CARRY, RIGHT)


def _shift(direction: int):
    def shift(rec: Recorder, args: Args) -> Calls:
        for row in range(4):
            yield "ACT", (MOVE, row, direction)

    return shift


class AdditionTask(SingleEnvTask):
    """Addition as NPI learns it: the ADD program over an `AdditionPads` machine."""

    env_id = "neuralprog/Addition-v0"
    root = "ADD"
    obs_sizes: tuple[int, ...] = (BLANK + 1,) * 4
    obs_names: tuple[str, ...] = ROWS
    problem_example = '{"a": "96", "b": "25"}'

    def __init__(self, recursive: bool = False):
        self.recursive = recursive
        self.name = "addition-recursive" if recursive else "addition"
        self.programs = addition_programs(recursive)
        self.oracle = {
            "ADD": _add_recursive if recursive else _add,
            "ADD1": _add1,
            "CARRY": _carry,
            "LSHIFT": _shift(LEFT),
            "RSHIFT": _shift(RIGHT),
        }

    def parse(self, problem: Any) -> dict:
        return parse_addition(problem)

    def sample(self, rng: np.random.Generator, size: int) -> dict:
        """Two random numbers, the longer with exactly `size` digits, the other as long half the time."""
        other = size if rng.random() < 0.5 else int(rng.integers(1, size + 1))

        def number(n: int) -> str:
            digits = rng.integers(0, 10, size=n)
            if n > 1:
                digits[0] = rng.integers(1, 10)
            return "".join(map(str, digits.tolist()))

        a, b = number(size), number(other)
        if rng.random() < 0.5:
            a, b = b, a
        return {"a": a, "b": b}

    def size(self, problem: dict) -> int:
        return max(len(problem["a"]), len(problem["b"]))

    def machine(self, problems: list[dict]) -> AdditionPads:
        return AdditionPads(problems)

    def expected(self, problem: dict) -> str:
        return add_digit_strings(problem["a"], problem["b"])

    def step_budget(self, problem: dict) -> int:
        # The oracle takes at most 15 model steps per column; twice that leaves room for a slow model.
        return 30 * (self.size(problem) + MARGIN) + 50

    def depth_budget(self, problem: dict) -> int:
        # The recursive ADD adds one frame per column.
        return self.size(problem) + MARGIN + 16 if self.recursive else 16

    def verification_problems(self) -> list[dict]:
        """Problems whose traces hold every call frame the recursive programs can meet.

        A recursive ADD frame sees one column (a, b, carry-in c), the same column after ADD1 wrote it,
        the next column after LSHIFT (a', b', and the carry ADD1 left there), then the all-blank column
        where the recursion ends; ADD1, CARRY and LSHIFT see only those two columns. The OUT cell of a
        fresh column is always blank and a carry cell holds blank or 1, so a frame is fixed by
        (a, b, c, a', b'), with a' blank once a is (a number has no inner blanks). Three-column
        problems realise each tuple: the units column sets the carry-in (0+0 or 5+5), the tens column is
        (a, b), the hundreds (a', b'); the units column itself is the carry-in-blank case.
        """
        if not self.recursive:
            raise ValueError(
                "the non-recursive ADD runs one frame per problem, as long as the problem: no finite "
                "set covers it; verify an addition-recursive checkpoint"
            )
        digits = [*"0123456789", ""]
        problems = []
        for unit in ("0", "5"):
            for a in digits:
                for b in digits:
                    for a2 in digits if a else [""]:
                        for b2 in digits if b else [""]:
                            problems.append({"a": a2 + a + unit, "b": b2 + b + unit})
        return problems

    def describe_action(self, args: tuple[int, ...]) -> str:
        op, row, value = args
        if row >= 4 or op > WRITE or (op == MOVE and value > RIGHT):
            return f"NOOP {args}"
        if op == MOVE:
            return f"PTR {ROWS[row]} {'LEFT' if value == LEFT else 'RIGHT'}"
        return f"WRITE {ROWS[row]} {value}"


ADDITION = AdditionTask()
ADDITION_RECURSIVE = AdditionTask(recursive=True)
