"""The RL-NTM's tapes (Zaremba & Sutskever 2015): five symbol-rearranging tasks over an input tape, an
optional memory tape and a write-only output tape.

A problem is its input tape as the model reads it, without the end symbol: `{"input": [4, 17, 2]}`,
plus `"repeat": 2|3` for RepeatCopy. Data symbols are 0..29; END (30) closes every input and target
tape; a head off the input tape reads BLANK (31), which is never a target. The size of a problem (its
curriculum level) is C, the number of distinct positions x1..xC: the target has C + 1 symbols, or
m * C + 1 for RepeatCopy.

The interfaces, per step:
- input head: move -1 / 0 / +1 (ForwardReverse: 0 / +1 only); it ranges over the tape plus one blank
  cell at each end, so a model can see where the tape ends;
- memory head (ForwardReverse only): the same moves over cells that each hold a vector of reals the
  controller rewrites every step; it starts in the middle of 2 * (len + 1) cells, so that the input can
  be stored going either way (the authors' memory is a ring of 30 cells);
- output head: stay, or advance and emit the predicted symbol. The episode ends when the last target is
  emitted. A step bound makes it finite: when the steps left equal the targets left, the head is forced
  to advance (paper, Sec. 2). The bound is the reference solution's steps plus `SLACK`.

`TapeTask` holds one task's rules (parse, sample, target, reference solution); `TapeBatch` holds a batch
of problems as tensors and applies whole batches of actions, which is what training and execution use;
`TapeEnv` is the Gymnasium view of one problem for users who drive the tapes themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch

SYMBOLS = 30
"""Data symbols are 0..SYMBOLS-1 (paper: drawn uniformly from 30)."""
END = 30
"""End-of-sequence symbol: the last cell of every input and every target."""
BLANK = 31
"""What the input head reads off either end of the tape."""
VOCAB = 31
"""Symbols a prediction chooses among (data symbols and END)."""
READ_VOCAB = 32
"""Symbols an input read can return (VOCAB and BLANK)."""
SLACK = 2
"""Steps allowed beyond the reference solution's, before the forced-output rule binds."""
LEFT, STAY, RIGHT = 0, 1, 2
"""Head-move actions; the position changes by action - 1."""


class TapeTask:
    """One task's rules, for whole batches at once. A batch of problems is three arrays: the phrases
    x1..xC (B, width), their sizes C (B,) and their repeat counts (B,; 1 except for RepeatCopy).
    Subclasses say how a phrase becomes the input tape and the target, and how long a reference solution
    takes."""

    name: str
    env_id: str
    vocab = VOCAB
    read_vocab = READ_VOCAB
    top_size: int = 20
    """The curriculum's top level (issue 4: target length 20; RepeatCopy: phrases of 8)."""
    memory: bool = False
    """Whether the memory tape is available (paper, Table 2: ForwardReverse only)."""
    input_backward: bool = True
    """Whether the input head may move left."""
    problem_example = '{"input": [4, 17, 2]}'

    def parse(self, problem: Any) -> dict:
        """Check a problem and return its canonical form; raise ValueError with a clear message."""
        self._check_task(problem)
        if not isinstance(problem, dict) or not isinstance(problem.get("input"), list):
            raise ValueError(
                f"a {self.name} problem is an object like {self.problem_example}, got {problem!r}"
            )
        symbols = problem["input"]
        if not symbols:
            raise ValueError(
                f"the input tape is empty; give at least one symbol, e.g. {self.problem_example}"
            )
        if any(type(s) is not int or not 0 <= s < SYMBOLS for s in symbols):
            raise ValueError(f"input symbols are integers 0-{SYMBOLS - 1}, got {symbols!r}")
        extra = set(problem) - {"input", "task"}
        if extra:
            raise ValueError(f"unknown problem field(s) {sorted(extra)} for {self.name}")
        return {"input": list(symbols)}

    def _check_task(self, problem: Any) -> None:
        """A problem may name its task ({"task": "reverse", ...}); it must be this one."""
        if isinstance(problem, dict) and problem.get("task", self.name) != self.name:
            raise ValueError(
                f"this is a {problem['task']!r} problem; the model solves {self.name!r} problems"
            )

    def sample(self, rng: np.random.Generator, size: int) -> dict:
        """A random problem of size C (data symbols uniform over 30)."""
        return self.problems(*self.sample_arrays(rng, np.asarray([size])))[0]

    def sample_arrays(self, rng: np.random.Generator, sizes: np.ndarray) -> tuple[np.ndarray, ...]:
        """(phrases, sizes, repeats) of random problems of the given sizes."""
        phrases = rng.integers(0, SYMBOLS, size=(len(sizes), int(sizes.max())))
        return phrases, sizes, np.ones(len(sizes), dtype=np.int64)

    def arrays(self, problems: Sequence[dict]) -> tuple[np.ndarray, ...]:
        """Parsed problems -> (phrases, sizes, repeats)."""
        phrases = [self.phrase(p) for p in problems]
        sizes = np.asarray([len(x) for x in phrases])
        padded = np.zeros((len(phrases), int(sizes.max())), dtype=np.int64)
        for row, x in enumerate(phrases):
            padded[row, : len(x)] = x
        return padded, sizes, np.asarray([p.get("repeat", 1) for p in problems])

    def problems(self, phrases: np.ndarray, sizes: np.ndarray, repeats: np.ndarray) -> list[dict]:
        return [{"input": x[:c].tolist()} for x, c in zip(phrases, sizes, strict=True)]

    def phrase(self, problem: dict) -> list[int]:
        return problem["input"]

    def size(self, problem: dict) -> int:
        return len(self.phrase(problem))

    def layout(self, phrases: np.ndarray, sizes: np.ndarray, repeats: np.ndarray) -> tuple[np.ndarray, ...]:
        """(input values, input lengths, target values, target lengths) before their END symbols."""
        raise NotImplementedError

    def steps(self, sizes: np.ndarray, repeats: np.ndarray) -> np.ndarray:
        """Steps the reference solution takes (equal to len(self.reference(problem)); tested)."""
        raise NotImplementedError

    def reference(self, problem: dict) -> list[tuple[int, int, int]]:
        """A solution, as (input move, memory move, advance) per step."""
        raise NotImplementedError

    def tapes(self, problems: Sequence[dict]) -> tuple[np.ndarray, ...]:
        """(input tapes, their lengths, targets, their lengths, step bounds): tapes end with END (then
        BLANK), targets with END (then END)."""
        phrases, sizes, repeats = self.arrays(problems)
        return self.tapes_of(phrases, sizes, repeats)

    def tapes_of(self, phrases: np.ndarray, sizes: np.ndarray, repeats: np.ndarray) -> tuple[np.ndarray, ...]:
        values, lengths, target_values, target_lengths = self.layout(phrases, sizes, repeats)
        tape = _ended(values, lengths, BLANK)
        target = _ended(target_values, target_lengths, END)
        return tape, lengths + 1, target, target_lengths + 1, self.steps(sizes, repeats) + SLACK

    def input_tape(self, problem: dict) -> list[int]:
        tape, length, *_ = self.tapes([problem])
        return tape[0, : length[0]].tolist()

    def target(self, problem: dict) -> list[int]:
        """The symbols to emit, END included."""
        _, _, target, length, _ = self.tapes([problem])
        return target[0, : length[0]].tolist()

    def expected(self, problem: dict) -> list[int]:
        """The answer as `solve` reports it: the target without its END."""
        return self.target(problem)[:-1]

    def answer(self, emitted: list[int]) -> list[int]:
        """Emitted symbols -> the answer: a final END is dropped (its absence makes the answer wrong)."""
        return emitted[:-1] if emitted and emitted[-1] == END else list(emitted)


def _ended(values: np.ndarray, lengths: np.ndarray, fill: int) -> np.ndarray:
    """(B, n) rows of which the first `lengths` count -> (B, max length + 1): END after them, then fill."""
    width = int(lengths.max()) + 1
    values = np.pad(values, ((0, 0), (0, max(0, width - values.shape[1]))))[:, :width]
    j = np.arange(width)[None, :]
    return np.where(j < lengths[:, None], values, np.where(j == lengths[:, None], END, fill))


def _reversed(phrases: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    index = np.maximum(sizes[:, None] - 1 - np.arange(phrases.shape[1])[None, :], 0)
    return np.take_along_axis(phrases, index, axis=1)


class Copy(TapeTask):
    """x1..xC -> x1..xC."""

    name, env_id = "copy", "neuralprog/Copy-v0"

    def layout(self, phrases, sizes, repeats):
        return phrases, sizes, phrases, sizes

    def steps(self, sizes, repeats):
        return sizes + 1

    def reference(self, problem):
        return [(RIGHT, STAY, 1)] * (self.size(problem) + 1)


class DuplicatedInput(TapeTask):
    """x1x1x1 x2x2x2 .. xCxCxC -> x1..xC (emit every third symbol)."""

    name, env_id = "duplicated-input", "neuralprog/DuplicatedInput-v0"
    problem_example = '{"input": [3, 3, 3, 9, 9, 9]}'

    def parse(self, problem: Any) -> dict:
        parsed = super().parse(problem)
        tape = parsed["input"]
        if len(tape) % 3 or any(
            tape[i] != tape[i + 1] or tape[i] != tape[i + 2] for i in range(0, len(tape), 3)
        ):
            raise ValueError(
                f"a duplicated-input tape is made of triples such as 3, 3, 3, 9, 9, 9; got {tape!r}"
            )
        return parsed

    def phrase(self, problem):
        return problem["input"][::3]

    def problems(self, phrases, sizes, repeats):
        return [{"input": np.repeat(x[:c], 3).tolist()} for x, c in zip(phrases, sizes, strict=True)]

    def layout(self, phrases, sizes, repeats):
        return np.repeat(phrases, 3, axis=1), 3 * sizes, phrases, sizes

    def steps(self, sizes, repeats):
        return 3 * sizes + 1

    def reference(self, problem):
        n = len(problem["input"]) + 1
        return [(RIGHT, STAY, int(p % 3 == 0)) for p in range(n)]


class Reverse(TapeTask):
    """x1..xC -> xC..x1: walk to xC, then emit walking back; END is emitted off the left end."""

    name, env_id = "reverse", "neuralprog/Reverse-v0"

    def layout(self, phrases, sizes, repeats):
        return phrases, sizes, _reversed(phrases, sizes), sizes

    def steps(self, sizes, repeats):
        return 2 * sizes

    def reference(self, problem):
        c = self.size(problem)
        return [(RIGHT, STAY, 0)] * (c - 1) + [(LEFT, STAY, 1)] * (c + 1)


class RepeatCopy(TapeTask):
    """m x1..xC -> (x1..xC) m times, m in {2, 3}; m is the first symbol of the input tape."""

    name, env_id = "repeat-copy", "neuralprog/RepeatCopy-v0"
    top_size = 8
    problem_example = '{"input": [4, 17, 2], "repeat": 3}'
    repeats = (2, 3)

    def parse(self, problem: Any) -> dict:
        self._check_task(problem)
        repeat = problem.get("repeat") if isinstance(problem, dict) else None
        if type(repeat) is not int or repeat not in self.repeats:  # 2.0 == 2, but it is not a count
            got = problem.get("repeat") if isinstance(problem, dict) else problem
            raise ValueError(f'a repeat-copy problem needs "repeat": 2 or 3, got {got!r}')
        return {
            **super().parse({k: v for k, v in problem.items() if k != "repeat"}),
            "repeat": problem["repeat"],
        }

    def sample_arrays(self, rng, sizes):
        phrases, sizes, _ = super().sample_arrays(rng, sizes)
        return phrases, sizes, rng.choice(self.repeats, size=len(sizes))

    def problems(self, phrases, sizes, repeats):
        return [
            {**p, "repeat": int(m)}
            for p, m in zip(super().problems(phrases, sizes, repeats), repeats, strict=True)
        ]

    def layout(self, phrases, sizes, repeats):
        tape = np.concatenate([repeats[:, None], phrases], axis=1)
        index = np.arange(int((sizes * repeats).max()))[None, :] % sizes[:, None]
        return tape, sizes + 1, np.take_along_axis(phrases, index, axis=1), sizes * repeats

    def steps(self, sizes, repeats):
        return (2 * repeats - 1) * sizes + 2

    def reference(self, problem):
        c, m = self.size(problem), problem["repeat"]
        back = [(LEFT, STAY, 0)] * (c - 1) + [(RIGHT, STAY, 0)]  # from x_{C-1} back to m, then onto x1
        copy = [(RIGHT, STAY, 1)] * (c - 1) + [(LEFT, STAY, 1)]  # emit x1..xC, turning at xC
        final = [(RIGHT, STAY, 1)] * (c + 1)  # emit x1..xC and END
        return [(RIGHT, STAY, 0)] + (copy + back) * (m - 1) + final


class ForwardReverse(Reverse):
    """Reverse with an input head that only moves forward: store the input in memory, read it back."""

    name, env_id = "forward-reverse", "neuralprog/ForwardReverse-v0"
    memory = True
    input_backward = False

    def steps(self, sizes, repeats):
        return 2 * sizes + 2

    def reference(self, problem):
        c = self.size(problem)
        store = [(RIGHT, RIGHT, 0)] * c  # write x_p into cell p
        return [*store, (STAY, LEFT, 0)] + [(STAY, LEFT, 1)] * (c + 1)


COPY = Copy()
DUPLICATED_INPUT = DuplicatedInput()
REVERSE = Reverse()
REPEAT_COPY = RepeatCopy()
FORWARD_REVERSE = ForwardReverse()
_BY_NAME = {t.name: t for t in (COPY, DUPLICATED_INPUT, REVERSE, REPEAT_COPY, FORWARD_REVERSE)}
"""The tasks `TapeEnv` can be made with (`neuralprog.registry` lists every task)."""


class TapeBatch:
    """A batch of problems on their tapes, as tensors, advanced in lockstep.

    Positions count from the first input cell; the input head ranges over -1..len(input tape) of its
    own problem, so a problem behaves the same in any batch. The memory head ranges over -(len + 1)..len:
    from position 0 there is room for the whole input tape either way (the authors' memory is circular).
    Memory (when the task has it) is (B, cells, D): cell p + memory_origin holds position p, and
    `window` cells at each end serve reads.
    """

    def __init__(
        self,
        task: TapeTask,
        arrays: tuple[np.ndarray, ...],
        window: int = 0,
        cell_size: int = 0,
        device: torch.device | str = "cpu",
    ):
        """`arrays`: (phrases, sizes, repeats), as from `task.arrays(problems)` or `task.sample_arrays`."""
        self.task, self.window, self.device = task, window, torch.device(device)
        self.vocab, self.read_vocab = task.vocab, task.read_vocab  # the symbols predicted and read
        tape, input_length, target, target_length, bound = task.tapes_of(*arrays)
        self.batch_size = len(tape)
        self.pad = window + 1  # cells before position 0: the blank one a head may enter, and the window's
        tape = np.pad(tape, ((0, 0), (self.pad, self.pad)), constant_values=BLANK)

        def tensor(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64)).to(self.device)

        self.input, self.input_length = tensor(tape), tensor(input_length)
        self.target, self.target_length, self.bound = tensor(target), tensor(target_length), tensor(bound)
        self.offsets = torch.arange(-window, window + 1, device=self.device)  # (K,)
        self.input_pos = torch.zeros(self.batch_size, dtype=torch.long, device=self.device)
        self.memory_pos = torch.zeros_like(self.input_pos)
        self.emitted = torch.zeros_like(self.input_pos)  # output head position
        self.steps = torch.zeros_like(self.input_pos)
        longest = int(input_length.max())
        self.memory_origin = window + longest + 1
        self.memory_cells = 2 * self.memory_origin
        self.memory = (
            torch.zeros(self.batch_size, self.memory_cells, cell_size, device=self.device)
            if task.memory
            else None
        )

    @classmethod
    def of(cls, task: TapeTask, problems: Sequence[dict], **kwargs: Any) -> TapeBatch:
        return cls(task, task.arrays(problems), **kwargs)

    @property
    def done(self) -> torch.Tensor:
        return self.emitted >= self.target_length

    def read_input(self) -> torch.Tensor:
        """(B, 2w+1) symbols around the input head."""
        return self.input.gather(1, self.input_pos[:, None] + self.pad + self.offsets)

    def read_memory(self) -> torch.Tensor:
        """(B, 2w+1, D) cells around the memory head."""
        assert self.memory is not None
        index = (self.memory_pos[:, None] + self.memory_origin + self.offsets)[:, :, None]
        return self.memory.gather(1, index.expand(-1, -1, self.memory.shape[2]))

    def forced(self) -> torch.Tensor:
        """(B,) bool: the output head must advance now (steps left == targets left)."""
        return self.bound - self.steps <= self.target_length - self.emitted

    def next_target(self) -> torch.Tensor:
        """(B,) the symbol the output head would emit next (END once done)."""
        return self.target.gather(1, self.emitted.clamp(max=self.target.shape[1] - 1)[:, None])[:, 0]

    def write(self, cells: torch.Tensor) -> None:
        """Replace the cell under each memory head by `cells` (B, D), in place (no autograd: training
        replays the writes with autograd in `neuralprog.models.rlntm.score`)."""
        assert self.memory is not None
        self.memory.scatter_(1, self._cell_under_head(), cells[:, None, :])

    def add_to_cell(self, cells: torch.Tensor) -> None:
        """Add `cells` (B, D) to the cell under each memory head, in place."""
        assert self.memory is not None
        self.memory.scatter_add_(1, self._cell_under_head(), cells[:, None, :])

    def _cell_under_head(self) -> torch.Tensor:
        """(B, 1, D) index of the cell under each memory head, for scatters into `memory`."""
        assert self.memory is not None
        return (self.memory_pos + self.memory_origin)[:, None, None].expand(-1, 1, self.memory.shape[2])

    def move(self, input_move: torch.Tensor, memory_move: torch.Tensor, advance: torch.Tensor) -> None:
        """Apply one step's actions (B,) to the live problems; finished ones stay as they are."""
        live = (self.emitted < self.target_length).long()
        if not self.task.input_backward:
            input_move = input_move.clamp(min=STAY)
        self.input_pos = torch.minimum(
            (self.input_pos + (input_move - 1) * live).clamp_(min=-1), self.input_length
        )
        if self.memory is not None:
            moved = torch.maximum(self.memory_pos + (memory_move - 1) * live, -1 - self.input_length)
            self.memory_pos = torch.minimum(moved, self.input_length)
        self.emitted = self.emitted + advance * live
        self.steps = self.steps + live

    def select(self, rows: torch.Tensor) -> None:
        """Keep the problems `rows` (with repeats): the exact gradient checker branches episodes."""
        for name in (
            "input_length",
            "target_length",
            "bound",
            "input",
            "target",
            "input_pos",
            "memory_pos",
            "emitted",
            "steps",
        ):
            setattr(self, name, getattr(self, name)[rows])
        if self.memory is not None:
            self.memory = self.memory[rows]
        self.batch_size = len(rows)


class TapeEnv(gym.Env):
    """### Description
    One RL-NTM tape problem (Zaremba & Sutskever 2015): Copy, DuplicatedInput, Reverse, RepeatCopy or
    ForwardReverse, chosen by the registered id.

    ### Action Space
    `Dict(input=Discrete(3), memory=Discrete(3), output=Discrete(2), symbol=Discrete(31),
    write=Box(-1, 1, (cell_size,)))`: head moves (0 left, 1 stay, 2 right; ForwardReverse's input head
    cannot move left and treats 0 as stay), output 1 to advance and emit `symbol`, and the new content of
    the memory cell under the head (ignored by tasks without memory).

    ### Observation Space
    `Dict(input=Discrete(32), memory=Box(cell_size))`: the symbol under the input head (31 off the tape)
    and the memory cell under the memory head (zeros for tasks without memory).

    ### Starting State
    Heads on the first cell, memory zero, nothing emitted.

    ### Reward
    +1 for each emitted symbol equal to its target, 0 otherwise. (The RL-NTM itself is rewarded with the
    log-probability of the target, which only the model knows.)

    ### Episode End
    Terminated when the last target is emitted; the forced-output rule guarantees it within the step
    bound. `info["forced"]` says when the output head was advanced regardless of the action.

    ### Arguments
    `size`: the size C of random problems (default 5); `reset(options={"size": C})` or an explicit
    problem `reset(options={"input": [...], "repeat": 2})`; `cell_size` of memory cells (default 35).

    ### Version History
    v0: first version.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(self, task: str, size: int = 5, cell_size: int = 35, render_mode: str | None = None):
        if task not in _BY_NAME:
            raise ValueError(f"unknown tape task {task!r}; known: {', '.join(_BY_NAME)}")
        self.task = _BY_NAME[task]
        if size < 1:
            raise ValueError(f"size must be at least 1, got {size}")
        if render_mode not in (None, "ansi"):
            raise ValueError(f"unsupported render_mode {render_mode!r}; use 'ansi'")
        self.size, self.cell_size, self.render_mode = size, cell_size, render_mode
        self.action_space = gym.spaces.Dict(
            {
                "input": gym.spaces.Discrete(3),
                "memory": gym.spaces.Discrete(3),
                "output": gym.spaces.Discrete(2),
                "symbol": gym.spaces.Discrete(VOCAB),
                "write": gym.spaces.Box(-1.0, 1.0, (cell_size,), np.float32),
            }
        )
        self.observation_space = gym.spaces.Dict(
            {
                "input": gym.spaces.Discrete(READ_VOCAB),
                "memory": gym.spaces.Box(-1.0, 1.0, (cell_size,), np.float32),
            }
        )
        self._tapes: TapeBatch | None = None
        self._problem: dict = {}
        self._emitted: list[int] = []

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        options = dict(options or {})
        size = int(options.pop("size", self.size))
        if options:
            self._problem = self.task.parse(options)
        else:
            if size < 1:
                raise ValueError(f"size must be at least 1, got {size}")
            self._problem = self.task.sample(self.np_random, size)
        self._tapes = TapeBatch.of(self.task, [self._problem], cell_size=self.cell_size)
        if self._tapes.memory is None:  # the env always shows a memory cell
            self._tapes.memory = torch.zeros(1, self._tapes.memory_cells, self.cell_size)
        self._emitted = []
        return self._observation(), self._info(forced=False)

    def step(self, action: dict):
        tapes = self._tapes
        assert tapes is not None, "call reset() before step()"
        forced = bool(tapes.forced()[0])
        advance = forced or int(action["output"]) == 1
        reward = 0.0
        if advance:
            symbol = int(action["symbol"])
            reward = float(symbol == int(tapes.next_target()[0]))
            self._emitted.append(symbol)
        if self.task.memory:
            tapes.write(torch.as_tensor(np.asarray(action["write"], dtype=np.float32)).clip(-1, 1)[None])
        tapes.move(
            torch.tensor([int(action["input"])]),
            torch.tensor([int(action["memory"])]),
            torch.tensor([int(advance)]),
        )
        terminated = bool(tapes.done[0])
        return self._observation(), reward, terminated, False, self._info(forced)

    def render(self) -> str | None:
        if self.render_mode != "ansi" or self._tapes is None:
            return None
        tapes = self._tapes
        cells = self.task.input_tape(self._problem)
        text = " ".join(_symbol(s) for s in cells)
        caret = " " * (3 * (int(tapes.input_pos[0]) + 1) + 1) + "^"
        out = " ".join(_symbol(s) for s in self._emitted)
        return f"input   {'.. ' + text + ' ..'}\n        {caret}\noutput  {out}\n"

    def _observation(self) -> dict:
        tapes = self._tapes
        assert tapes is not None and tapes.memory is not None
        cell = tapes.memory[0, int(tapes.memory_pos[0]) + tapes.memory_origin].numpy().clip(-1, 1)
        return {"input": int(tapes.read_input()[0, 0]), "memory": cell.astype(np.float32)}

    def _info(self, forced: bool) -> dict:
        tapes = self._tapes
        assert tapes is not None
        return {
            **self._problem,
            "target": self.task.target(self._problem),
            "emitted": list(self._emitted),
            "forced": forced,
            "steps_left": int(tapes.bound[0] - tapes.steps[0]),
            "correct": self._emitted == self.task.target(self._problem),
        }


def _symbol(s: int) -> str:
    return {END: " $", BLANK: " ."}.get(s, f"{s:2d}")
