"""Scratch-pad environments (NPI, Reed & de Freitas 2015): multi-digit addition.

The pad is a grid of digit cells with one pointer per row. `AdditionPads` holds a whole batch of pads as
NumPy arrays, so the interpreter can drive hundreds of problems with one call per step; the Gymnasium
env `AdditionEnv` is a batch of one. The reference programs (the oracle, Table 2 of the paper) live at
the end of the file, next to the task that ties everything together.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from neuralprog.programs import Program, ProgramSet
from neuralprog.tasks import register_task

if TYPE_CHECKING:
    from neuralprog.traces import Recorder

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


class AdditionEnv(gym.Env):
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
    `digits` (size of random problems), `max_steps` (None: 8 per column plus 16), `render_mode` ("ansi").

    ## Version History
    v0: initial version.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(self, digits: int = 5, max_steps: int | None = None, render_mode: str | None = None):
        if digits < 1:
            raise ValueError(f"digits must be at least 1, got {digits}")
        if render_mode not in (None, "ansi"):
            raise ValueError(f"unsupported render_mode {render_mode!r}; use 'ansi'")
        self.digits = digits
        self.max_steps = max_steps
        self.render_mode = render_mode
        self.observation_space = gym.spaces.MultiDiscrete([BLANK + 1] * 4)
        self.action_space = gym.spaces.MultiDiscrete([2, 4, 10])
        self._pads: AdditionPads | None = None
        self._problem: dict = {}
        self._steps = 0
        self._budget = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        options = dict(options or {})
        if "a" in options or "b" in options:
            problem = parse_addition({"a": options.get("a"), "b": options.get("b")})
        else:
            digits = int(options.get("digits", self.digits))
            if digits < 1:
                raise ValueError(f"digits must be at least 1, got {digits}")
            problem = ADDITION.sample(self.np_random, digits)
        self._problem = problem
        self._pads = AdditionPads([problem])
        self._steps = 0
        self._budget = self.max_steps or 8 * self._pads.width + 16
        return self._observation(), self._info()

    def step(self, action):
        assert self._pads is not None, "call reset() before step()"
        args = np.asarray(action, dtype=np.int64).reshape(1, 3)
        self._pads.act(np.zeros(1, dtype=np.int64), args)
        self._steps += 1
        truncated = self._steps >= self._budget
        return self._observation(), 0.0, False, truncated, self._info()

    def render(self) -> str | None:
        if self.render_mode != "ansi" or self._pads is None:
            return None
        return self._pads.render(0)

    def _observation(self) -> np.ndarray:
        assert self._pads is not None
        return self._pads.observe()[0]

    def _info(self) -> dict:
        assert self._pads is not None
        output = self._pads.output(0)
        expected = ADDITION.expected(self._problem)
        return {
            "a": self._problem["a"],
            "b": self._problem["b"],
            "output": output,
            "correct": output == expected,
        }


# ---------------------------------------------------------------------------------------------------
# Programs (Table 2 of the paper) and the oracle that writes their traces.

ADDITION_PROGRAMS = ProgramSet(
    (
        Program("ACT", primitive=True, doc="move a pointer or write a digit: (op, row, value)"),
        Program("ADD", calls=("ADD1", "LSHIFT"), doc="multi-digit addition"),
        Program("ADD1", calls=("ACT", "CARRY"), doc="one column: write the sum digit, maybe carry"),
        Program("CARRY", calls=("ACT",), doc="write a 1 in the carry row one column left"),
        Program("LSHIFT", calls=("ACT",), doc="move every pointer one column left"),
        Program("RSHIFT", calls=("ACT",), doc="move every pointer one column right"),
    )
)


def _add(rec: Recorder, args: tuple[int, int, int]) -> None:
    while True:
        in1, in2, carry, _ = rec.obs()
        if in1 == BLANK and in2 == BLANK and carry == BLANK:
            return
        rec.call("ADD1")
        rec.call("LSHIFT")


def _add1(rec: Recorder, args: tuple[int, int, int]) -> None:
    total = sum(v for v in rec.obs()[:3] if v != BLANK)
    rec.call("ACT", (WRITE, OUT, total % 10))
    if total >= 10:
        rec.call("CARRY")


def _carry(rec: Recorder, args: tuple[int, int, int]) -> None:
    rec.call("ACT", (MOVE, CARRY, LEFT))
    rec.call("ACT", (WRITE, CARRY, 1))
    rec.call("ACT", (MOVE, CARRY, RIGHT))


def _shift(direction: int):
    def shift(rec: Recorder, args: tuple[int, int, int]) -> None:
        for row in range(4):
            rec.call("ACT", (MOVE, row, direction))

    return shift


class AdditionTask:
    """Addition as NPI learns it: the ADD program over an `AdditionPads` machine."""

    name = "addition"
    env_id = "neuralprog/Addition-v0"
    programs = ADDITION_PROGRAMS
    root = "ADD"
    obs_sizes: tuple[int, ...] = (BLANK + 1,) * 4
    obs_names: tuple[str, ...] = ROWS
    oracle = {"ADD": _add, "ADD1": _add1, "CARRY": _carry, "LSHIFT": _shift(LEFT), "RSHIFT": _shift(RIGHT)}
    problem_example = '{"a": "96", "b": "25"}'

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
        return 16

    def describe_action(self, args: tuple[int, ...]) -> str:
        op, row, value = args
        if row >= 4 or op > WRITE or (op == MOVE and value > RIGHT):
            return f"NOOP {args}"
        if op == MOVE:
            return f"PTR {ROWS[row]} {'LEFT' if value == LEFT else 'RIGHT'}"
        return f"WRITE {ROWS[row]} {value}"


ADDITION = AdditionTask()
register_task(ADDITION)
