"""Bubble sort on NPI's one-row array (Reed & de Freitas 2015), plain and recursive (Cai et al. 2017).

One row of single digits and three pointers: P1 and P2 bubble through the array, P3 counts the sweeps.
The model sees the values under P1 and P2 (10 = the blank cell just past the end, where P2 stops a
sweep) and, for each of the three pointers, whether it is on the first and/or last cell. The value
under P3 is not observed: it carries nothing the programs need, and leaving it out keeps the
verification set (every step situation of every program) small. ACT swaps the values under P1 and P2 or
moves one pointer. `SortRows` holds a batch of arrays of different lengths as NumPy arrays.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from neuralprog.envs.base import TaskEnv
from neuralprog.programs import Program, ProgramSet
from neuralprog.tasks import Args, Calls, Recorder, SingleEnvTask

BLANK = 10
"""Value of the cell past the end of an array."""
P1, P2, P3 = range(3)
POINTERS = ("P1", "P2", "P3")
MOVE, SWAP = 0, 1
"""ACT argument 0: the operation. A MOVE's argument 1 is the pointer, argument 2 the direction."""
LEFT, RIGHT = 0, 1
AT_START, AT_END = 1, 2
"""Bits of a pointer's position field (3: an array of one element)."""
V1, V2, E1, E2, E3 = range(5)
"""Observation fields: values under P1 and P2, position fields of P1, P2 and P3."""


def parse_sort(problem: Any) -> dict:
    """Check a sorting problem {"array": [3, 1, 2]} and return it with a plain list of ints."""
    if not isinstance(problem, dict) or "array" not in problem:
        raise ValueError(f'a sorting problem is an object like {{"array": [3, 1, 2]}}, got {problem!r}')
    array = problem["array"]
    if not isinstance(array, list) or not array:
        raise ValueError(f"sorting 'array' must be a non-empty list of digits 0-9, got {array!r}")
    for i, value in enumerate(array):
        if not isinstance(value, int | np.integer) or isinstance(value, bool) or not 0 <= value <= 9:
            raise ValueError(f"sorting 'array' entry {i} is {value!r}; entries must be digits 0-9")
    return {**problem, "array": [int(v) for v in array]}


class SortRows:
    """A batch of arrays (padded with blanks to a common width plus one) and three pointers each."""

    def __init__(self, problems: list[dict]):
        self.batch_size = len(problems)
        self.length = np.asarray([len(p["array"]) for p in problems], dtype=np.int64)  # (B,)
        self.cells = np.full((self.batch_size, int(self.length.max()) + 1), BLANK, dtype=np.int8)
        for i, p in enumerate(problems):
            self.cells[i, : self.length[i]] = p["array"]
        self.ptr = np.zeros((self.batch_size, 3), dtype=np.int64)  # (B, 3), all on the first cell
        self._batch = np.arange(self.batch_size)

    def observe(self) -> np.ndarray:
        b = self._batch
        values = self.cells[b[:, None], self.ptr[:, :2]]  # (B, 2)
        position = AT_START * (self.ptr == 0) + AT_END * (self.ptr == self.length[:, None] - 1)  # (B, 3)
        return np.concatenate([values, position], axis=1).astype(np.int64)  # (B, 5)

    def act(self, rows: np.ndarray, args: np.ndarray) -> None:
        op, pointer, direction = args[:, 0], args[:, 1], args[:, 2]
        move = (op == MOVE) & (pointer < 3) & (direction <= RIGHT)
        b, p = rows[move], pointer[move]
        # a pointer may step onto the blank cell just past the end, no further
        self.ptr[b, p] = np.clip(self.ptr[b, p] + 2 * direction[move] - 1, 0, self.length[b])
        b = rows[op == SWAP]
        i, j = self.ptr[b, P1], self.ptr[b, P2]
        inside = (i < self.length[b]) & (j < self.length[b])
        b, i, j = b[inside], i[inside], j[inside]
        self.cells[b, i], self.cells[b, j] = self.cells[b, j], self.cells[b, i].copy()

    def output(self, i: int) -> list[int]:
        return self.cells[i, : self.length[i]].tolist()

    def outputs(self) -> list[Any]:
        return [self.output(i) for i in range(self.batch_size)]

    def view(self, row: int) -> dict:
        """The array of problem `row` for `trace --html`: its cells and the blank one past the end (shown
        ""), with the three pointers on them."""
        cells = [str(v) if v != BLANK else "" for v in self.cells[row, : self.length[row] + 1].tolist()]
        return {
            "grid": [("array", cells)],
            "pointers": [(name, 0, int(self.ptr[row, k])) for k, name in enumerate(POINTERS)],
        }

    def render(self, row: int, window: int = 64) -> str:
        """The array of problem `row` with a line per pointer; long arrays show a window."""
        n, pointers = int(self.length[row]), self.ptr[row]
        hi = min(n + 1, int(pointers.max()) + 4)
        lo = max(0, min(int(pointers.min()) - 3, hi - window))
        cells = " ".join("." if v == BLANK else str(v) for v in self.cells[row, lo:hi].tolist())
        lines = [f"array |{cells}|"]
        for k, name in enumerate(POINTERS):
            lines.append(f"{name:>5}  " + "  " * (int(pointers[k]) - lo) + "^")
        if lo > 0 or hi < n + 1:
            lines.insert(0, f"(cells {lo}..{hi - 1} of {n})")
        return "\n".join(lines)


class BubbleSortEnv(TaskEnv):
    """Bubble sort on NPI's array.

    ## Description
    One row of single digits to sort in ascending order by swapping the values under two pointers.

    ## Action Space
    `MultiDiscrete([2, 3, 2])`, the arguments of NPI's primitive ACT: (operation, pointer, direction).
    Operation 0 moves pointer P1, P2 or P3 left (0) or right (1); operation 1 swaps the values under P1
    and P2 (its other arguments are ignored). Pointers stop at the first cell and at the blank cell just
    past the last one.

    ## Observation Space
    `MultiDiscrete([11, 11, 4, 4, 4])`: the values under P1 and P2 (10 = past the end), then for each
    pointer a position field: bit 1 = on the first cell, bit 2 = on the last cell.

    ## Starting State
    The array from `reset(options={"array": [3, 1, 2]})`, or a random one of `options={"length": n}`
    (default: the constructor's `length`); every pointer on the first cell.

    ## Reward
    Always 0: NPI learns from traces. `info["correct"]` says whether the array is sorted.

    ## Episode End
    Never terminates by itself; truncated after `max_steps` actions (default: the task's step budget).

    ## Arguments
    `length` (size of random arrays), `max_steps`, `render_mode` ("ansi").

    ## Version History
    v0: initial version.
    """

    size_option = "length"

    def __init__(self, length: int = 5, max_steps: int | None = None, render_mode: str | None = None):
        self.task = SORT
        super().__init__(length, max_steps, render_mode)
        self.observation_space = gym.spaces.MultiDiscrete([BLANK + 1, BLANK + 1, 4, 4, 4])
        self.action_space = gym.spaces.MultiDiscrete([2, 3, 2])


# ---------------------------------------------------------------------------------------------------
# Programs (Table 2 of the paper) and the oracles that write their traces.


def sort_programs(recursive: bool) -> ProgramSet:
    """With `recursive`, the three loops become tail calls (Cai et al. 2017): BUBBLESORT, BSTEP and RESET
    call themselves once per sweep, pair and cell, so no call frame is longer than five steps."""
    again = (lambda name: (name,)) if recursive else (lambda name: ())
    return ProgramSet(
        (
            Program("ACT", primitive=True, doc="swap the values under P1 and P2, or move a pointer"),
            Program("BUBBLESORT", calls=("BUBBLE", "RESET", *again("BUBBLESORT")), doc="bubble sort"),
            Program("BUBBLE", calls=("ACT", "BSTEP"), doc="one sweep from left to right"),
            Program("RESET", calls=("LSHIFT", "ACT", *again("RESET")), doc="back to the left, next sweep"),
            Program("BSTEP", calls=("COMPSWAP", "RSHIFT", *again("BSTEP")), doc="compare-swap, advance"),
            Program("COMPSWAP", calls=("ACT",), doc="swap the values under P1 and P2 if out of order"),
            Program("LSHIFT", calls=("ACT",), doc="move P1 and P2 one cell left"),
            Program("RSHIFT", calls=("ACT",), doc="move P1 and P2 one cell right"),
        )
    )


def _at(rec: Recorder, field: int, bit: int) -> bool:
    return bool(rec.obs()[field] & bit)


# n sweeps, counted by P3; the last one (P3 on the last cell) finds the array sorted and leaves P1 on the
# last cell. One sweep more than needed, so that every program meets P3 at the end while sorting: MAX's
# RJMP then runs on a frozen RSHIFT that has seen that layout.
def _bubblesort(rec: Recorder, args: Args) -> Calls:
    while True:
        yield "BUBBLE"
        if _at(rec, E3, AT_END):
            return
        yield "RESET"


def _bubblesort_recursive(rec: Recorder, args: Args) -> Calls:
    yield "BUBBLE"
    if _at(rec, E3, AT_END):
        return
    yield "RESET"
    yield "BUBBLESORT"


def _bubble(rec: Recorder, args: Args) -> Calls:
    yield "ACT", (MOVE, P2, RIGHT)
    while rec.obs()[V2] != BLANK:
        yield "BSTEP"


def _bubble_recursive(rec: Recorder, args: Args) -> Calls:
    yield "ACT", (MOVE, P2, RIGHT)
    yield "BSTEP"


def _bstep(rec: Recorder, args: Args) -> Calls:
    yield "COMPSWAP"
    yield "RSHIFT"


def _bstep_recursive(rec: Recorder, args: Args) -> Calls:
    if rec.obs()[V2] == BLANK:  # P2 is past the end: the sweep is over
        return
    yield "COMPSWAP"
    yield "RSHIFT"
    yield "BSTEP"


def _reset(rec: Recorder, args: Args) -> Calls:
    while not _at(rec, E1, AT_START):
        yield "LSHIFT"
    yield from _next_sweep()


def _reset_recursive(rec: Recorder, args: Args) -> Calls:
    if _at(rec, E1, AT_START):
        yield from _next_sweep()
        return
    yield "LSHIFT"
    yield "RESET"


def _next_sweep() -> Calls:
    yield "ACT", (MOVE, P2, LEFT)  # P2 joins P1 on the first cell
    yield "ACT", (MOVE, P3, RIGHT)


def _compswap(rec: Recorder, args: Args) -> Calls:
    v1, v2 = rec.obs()[:2]
    if v1 > v2:
        yield "ACT", (SWAP, 0, 0)


def _shift(direction: int):
    def shift(rec: Recorder, args: Args) -> Calls:
        yield "ACT", (MOVE, P1, direction)
        yield "ACT", (MOVE, P2, direction)

    return shift


class SortTask(SingleEnvTask):
    """Ascending bubble sort: the BUBBLESORT program over a `SortRows` machine."""

    env_id = "neuralprog/BubbleSort-v0"
    root = "BUBBLESORT"
    obs_sizes: tuple[int, ...] = (BLANK + 1, BLANK + 1, 4, 4, 4)
    obs_names: tuple[str, ...] = ("V1", "V2", "E1", "E2", "E3")
    problem_example = '{"array": [3, 1, 2]}'

    def __init__(self, recursive: bool = False):
        self.recursive = recursive
        self.name = "sort-recursive" if recursive else "sort"
        self.programs = sort_programs(recursive)
        self.oracle = {
            "BUBBLESORT": _bubblesort_recursive if recursive else _bubblesort,
            "BUBBLE": _bubble_recursive if recursive else _bubble,
            "RESET": _reset_recursive if recursive else _reset,
            "BSTEP": _bstep_recursive if recursive else _bstep,
            "COMPSWAP": _compswap,
            "LSHIFT": _shift(LEFT),
            "RSHIFT": _shift(RIGHT),
        }

    def parse(self, problem: Any) -> dict:
        return parse_sort(problem)

    def sample(self, rng: np.random.Generator, size: int) -> dict:
        return {"array": rng.integers(0, 10, size=size).tolist()}

    def size(self, problem: dict) -> int:
        return len(problem["array"])

    def machine(self, problems: list[dict]) -> SortRows:
        return SortRows(problems)

    def expected(self, problem: dict) -> list[int]:
        return sorted(problem["array"])

    def step_budget(self, problem: dict) -> int:
        # The oracle takes at most 16 steps per pair (n - 1) and sweep (n); allow twice that.
        n = self.size(problem)
        return 32 * n * n + 100

    def depth_budget(self, problem: dict) -> int:
        # Recursion nests one BUBBLESORT frame per sweep and one BSTEP frame per pair.
        return 2 * self.size(problem) + 16 if self.recursive else 16

    def describe_action(self, args: tuple[int, ...]) -> str:
        op, pointer, direction = args
        if op == SWAP:
            return "SWAP P1 P2"
        if op == MOVE and pointer < 3 and direction <= RIGHT:
            return f"PTR {POINTERS[pointer]} {'LEFT' if direction == LEFT else 'RIGHT'}"
        return f"NOOP {args}"

    def verification_problems(self) -> list[dict]:
        """Problems whose traces hold every step situation of every recursive program.

        A step situation is (program, step in the frame, observation): the values under P1 and P2 and
        whether each pointer is on the first, an inner or the last cell. So short arrays realise them
        all: every array of up to 3 digits; arrays of 4 to 6 digits with each pair of values at each
        pair of adjacent cells; and, for what the later sweeps and the walks back see (a descending
        pair left of the sorted tail needs repeated values), 3,000 arrays of 4 to 7 cells drawn from 2
        or 3 distinct digits. All from a fixed seed. A test checks that random arrays up to 40 long
        meet no situation outside this set.
        """
        if not self.recursive:
            raise ValueError(
                "the non-recursive BUBBLE and RESET loop as long as the array: no finite set covers "
                "them; verify a sort-recursive checkpoint"
            )
        arrays = [[a] for a in range(10)]
        arrays += [[a, b] for a in range(10) for b in range(10)]
        arrays += [[a, b, c] for a in range(10) for b in range(10) for c in range(10)]
        rng = np.random.default_rng(0)
        for length in (4, 5, 6):
            for a in range(10):
                for b in range(10):
                    for position in range(length - 1):
                        array = rng.integers(0, 10, size=length)
                        array[position : position + 2] = a, b
                        arrays.append(array.tolist())
        for _ in range(3000):
            values = rng.choice(10, size=int(rng.integers(2, 4)), replace=False)
            arrays.append(rng.choice(values, size=int(rng.integers(4, 8))).tolist())
        return [{"array": array} for array in arrays]


class MaxRows(SortRows):
    """Sort rows whose answer is the value under P1 once P1 is on the last cell (None before)."""

    def outputs(self) -> list[Any]:
        p1 = self.ptr[:, P1]
        on_last = p1 == self.length - 1
        values = self.cells[self._batch, np.minimum(p1, self.length - 1)]
        return [int(v) if last else None for v, last in zip(values.tolist(), on_last.tolist(), strict=True)]


def _max(rec: Recorder, args: Args) -> Calls:
    yield "BUBBLESORT"
    yield "RJMP"


def _rjmp(rec: Recorder, args: Args) -> Calls:
    while rec.obs()[V2] != BLANK:
        yield "RSHIFT"


class MaxTask(SortTask):
    """The maximum of an array (the paper's new-program experiment): sort, then jump to the right end.

    Its two programs, MAX and RJMP, come after the sorting programs, so a model trained on sorting
    can learn them with a frozen core (`neuralprog extend`)."""

    root = "MAX"

    def __init__(self) -> None:
        super().__init__()
        self.name = "max"
        self.programs = ProgramSet(
            (
                *sort_programs(False).programs,
                Program("RJMP", calls=("RSHIFT",), doc="move P1 to the last cell (P2 past it)"),
                Program("MAX", calls=("BUBBLESORT", "RJMP"), doc="the maximum of an array"),
            )
        )
        self.oracle = {**self.oracle, "MAX": _max, "RJMP": _rjmp}

    def machine(self, problems: list[dict]) -> MaxRows:
        return MaxRows(problems)

    def expected(self, problem: dict) -> int:  # type: ignore[override]
        return max(problem["array"])

    def step_budget(self, problem: dict) -> int:
        return super().step_budget(problem) + 8 * self.size(problem)


SORT = SortTask()
SORT_RECURSIVE = SortTask(recursive=True)
MAX = MaxTask()
