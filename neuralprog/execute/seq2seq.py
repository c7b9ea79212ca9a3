"""The seq2seq baseline at work: problems as token sequences (a codec per task) and batched greedy
decoding, the baseline's counterpart of the call-stack interpreter.

A codec per task turns a problem into (input tokens, output tokens) and output tokens back into the
task's answer. Tokens are the digits 0-9, then PLUS, BOS, EOS and PAD (the model expects the last three
ids to be BOS, EOS, PAD). Every target ends with EOS; the decoder's input is BOS then the target shifted
right (teacher forcing).

- addition, {"a": "96", "b": "25"}: input 6 9 + 5 2, output 1 2 1 EOS. Both the numbers and the sum
  are written least significant digit first: then the k-th output digit depends on the k-th input
  digits and the carry, in the order the decoder emits them, instead of on the far end of the input.
  This is the kinder encoding for a seq2seq model; `decode` turns the digits back into the normal order
  that `task.expected` returns.
- sort, {"array": [3, 1, 2]} of digits 0-9: input 3 1 2, output 1 2 3 EOS; the answer is a list of ints.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import torch

from neuralprog.execute.common import RunResult
from neuralprog.models.baselines import Seq2Seq
from neuralprog.registry import program_task

PLUS, BOS, EOS, PAD = 10, 11, 12, 13
VOCAB_SIZE = 14
DECODE_MARGIN = 5
"""Tokens decoded beyond the expected output's length before a row that has not ended is cut off."""


class Codec(Protocol):
    """How one task's problems become token sequences and back."""

    def encode(self, problem: dict) -> tuple[list[int], list[int]]:
        """(input tokens, output digits without EOS); raise ValueError on a malformed problem."""
        ...

    def answer(self, digits: list[int]) -> Any:
        """Output digits -> the answer in the form `expected` returns."""
        ...

    def expected(self, problem: dict) -> Any: ...

    def sample(self, rng: np.random.Generator, size: int) -> dict: ...


class AdditionCodec:
    """Both numbers least significant digit first, separated by PLUS; the sum least significant first."""

    def encode(self, problem: dict) -> tuple[list[int], list[int]]:
        p = program_task("addition").parse(problem)
        src = [*_digits(p["a"][::-1]), PLUS, *_digits(p["b"][::-1])]
        return src, _digits(self.expected(p)[::-1])

    def answer(self, digits: list[int]) -> str:
        return "".join(str(d) for d in reversed(digits))

    def expected(self, problem: dict) -> str:
        return program_task("addition").expected(problem)

    def sample(self, rng: np.random.Generator, size: int) -> dict:
        return program_task("addition").sample(rng, size)


class SortCodec:
    """The array's digits in, the sorted digits out. Needs nothing from a sort task or environment."""

    def encode(self, problem: dict) -> tuple[list[int], list[int]]:
        array = _sort_array(problem)
        return array, sorted(array)

    def answer(self, digits: list[int]) -> list[int]:
        return list(digits)

    def expected(self, problem: dict) -> list[int]:
        return sorted(_sort_array(problem))

    def sample(self, rng: np.random.Generator, size: int) -> dict:
        return {"array": rng.integers(0, 10, size=size).tolist()}


CODECS: dict[str, Codec] = {"addition": AdditionCodec(), "sort": SortCodec()}


def codec(task_name: str) -> Codec:
    if task_name not in CODECS:
        raise ValueError(f"no seq2seq codec for task {task_name!r}; known: {', '.join(sorted(CODECS))}")
    return CODECS[task_name]


def encode(task_name: str, problem: dict) -> tuple[list[int], list[int]]:
    """A problem -> (input tokens, output tokens ending with EOS)."""
    src, digits = codec(task_name).encode(problem)
    return src, [*digits, EOS]


def decode(task_name: str, tokens: Sequence[int] | torch.Tensor) -> Any:
    """Output tokens (anything after the first EOS is ignored) -> the answer, as `expected` gives it.

    Returns None when the tokens are not an answer: no EOS, or a token other than a digit before it.
    """
    tokens = tokens.tolist() if isinstance(tokens, torch.Tensor) else list(tokens)
    if EOS not in tokens:
        return None
    digits = tokens[: tokens.index(EOS)]
    if any(not 0 <= t <= 9 for t in digits):
        return None
    return codec(task_name).answer(digits)


def expected(task_name: str, problem: dict) -> Any:
    return codec(task_name).expected(problem)


def sample_problems(task_name: str, rng: np.random.Generator, size: int, n: int) -> list[dict]:
    """`n` random problems of `size` (addition: digits of the longer number; sort: array length)."""
    task_codec = codec(task_name)
    return [task_codec.sample(rng, size) for _ in range(n)]


@torch.no_grad()
def run_seq2seq(model: Seq2Seq, task_name: str, problems: list[dict], batch: int = 512) -> RunResult:
    """Answer parsed problems by batched greedy decoding, `batch` at a time, as the interpreter would:
    `steps` counts decoder steps (EOS included), and a problem halts when the decoder emits EOS."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    outputs: list[Any] = []
    steps, halted = [], []
    for lo in range(0, len(problems), batch):
        pairs = [encode(task_name, p) for p in problems[lo : lo + batch]]
        src, src_lengths = padded([s for s, _ in pairs], device)
        # A wrong model may never emit EOS: cut it off a little after the longest expected output.
        max_len = max(len(t) for _, t in pairs) + DECODE_MARGIN
        for row in model.greedy_decode(src, src_lengths, max_len).tolist():
            outputs.append(decode(task_name, row))
            halted.append(EOS in row)
            steps.append(row.index(EOS) + 1 if EOS in row else len(row))
    model.train(was_training)
    stopped = f"no EOS within {DECODE_MARGIN} tokens after the expected output's length"
    return RunResult(
        outputs,
        np.asarray(steps, dtype=np.int64),
        np.asarray(halted, dtype=bool),
        [None if h else stopped for h in halted],
    )


def padded(rows: list[list[int]], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Token lists -> (N, longest) tensor padded with PAD, and the (N,) lengths."""
    width = max(len(r) for r in rows)
    tokens = torch.tensor([r + [PAD] * (width - len(r)) for r in rows], device=device)
    return tokens, torch.tensor([len(r) for r in rows], device=device)


def _digits(text: str) -> list[int]:
    return [int(ch) for ch in text]


def _sort_array(problem: Any) -> list[int]:
    """Check a sort problem {"array": [3, 1, 2]} (a non-empty list of digits 0-9) and return the list."""
    array = problem.get("array") if isinstance(problem, dict) else None
    if not isinstance(array, list) or not array:
        raise ValueError(f'a sort problem is an object like {{"array": [3, 1, 2]}}, got {problem!r}')
    if any(type(v) is not int or not 0 <= v <= 9 for v in array):
        raise ValueError(f"a sort array holds digits 0-9, got {array!r}")
    return list(array)
