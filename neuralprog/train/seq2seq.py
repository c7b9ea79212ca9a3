"""The seq2seq baseline's data and training: problems as plain token sequences, no execution traces.

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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F

from neuralprog.models.baselines import Seq2Seq, Seq2SeqConfig
from neuralprog.tasks import get_task
from neuralprog.train.supervised import TrainingError

PLUS, BOS, EOS, PAD = 10, 11, 12, 13
VOCAB_SIZE = 14
DECODE_MARGIN = 5
"""Tokens decoded beyond the expected output's length before a row that has not ended is cut off."""
PERFECT_EVALUATIONS_TO_STOP = 2
"""Training stops once every training problem is decoded exactly right this many evaluations in a row."""


@dataclass(frozen=True)
class Seq2SeqTrainConfig:
    """Supervised training of the seq2seq baseline on input/output pairs."""

    updates: int = 3000
    """Maximum number of optimizer updates (training stops earlier once it is perfect)."""
    batch_size: int = 64
    """Problems per update, drawn without replacement (all of them when there are fewer)."""
    lr: float = 1e-3
    """Adam learning rate."""
    grad_clip: float = 1.0
    """Maximum global gradient norm."""
    eval_every: int = 100
    """Updates between two exact-match evaluations of every training problem (greedy decoding)."""
    seed: int = 0
    """Seeds the initial weights and the order of the batches: the same seed gives the same weights."""


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
        p = get_task("addition").parse(problem)
        src = [*_digits(p["a"][::-1]), PLUS, *_digits(p["b"][::-1])]
        return src, _digits(self.expected(p)[::-1])

    def answer(self, digits: list[int]) -> str:
        return "".join(str(d) for d in reversed(digits))

    def expected(self, problem: dict) -> str:
        return get_task("addition").expected(problem)

    def sample(self, rng: np.random.Generator, size: int) -> dict:
        return get_task("addition").sample(rng, size)


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


def train_seq2seq(
    task_name: str,
    problems: list[dict],
    config: Seq2SeqTrainConfig | None = None,
    model_config: Seq2SeqConfig | None = None,
    device: str = "cpu",
    log: Callable[[str], None] = print,
) -> Seq2Seq:
    """Train a seq2seq model on exactly `problems` (teacher forcing, cross-entropy, Adam).

    Evaluates every training problem by greedy decoding every `eval_every` updates and stops early when
    all are exactly right twice in a row. Raises TrainingError on a non-finite loss.
    """
    config = config or Seq2SeqTrainConfig()
    model_config = model_config or Seq2SeqConfig(vocab_size=VOCAB_SIZE)
    if model_config.vocab_size != VOCAB_SIZE:
        raise ValueError(
            f"the seq2seq codecs use {VOCAB_SIZE} tokens, got vocab_size {model_config.vocab_size}"
        )
    if not problems:
        raise ValueError("no training problems")
    dev = torch.device(device)

    # Data: every problem's tensors once, padded; each batch is an index into them.
    pairs = [encode(task_name, p) for p in problems]
    src, src_lengths = _padded([s for s, _ in pairs], dev)
    tgt_in, tgt_lengths = _padded([[BOS, *t[:-1]] for _, t in pairs], dev)
    tgt_out, _ = _padded([t for _, t in pairs], dev)

    torch.manual_seed(config.seed)
    model = Seq2Seq(model_config).to(dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    rng = np.random.default_rng(config.seed)
    batch_size = min(config.batch_size, len(problems))
    perfect_streak = 0
    model.train()
    for update in range(1, config.updates + 1):
        index = torch.from_numpy(rng.choice(len(problems), size=batch_size, replace=False)).to(dev)
        width = int(tgt_lengths[index].max())  # decode no further than this batch's longest target
        logits = model(src[index], src_lengths[index], tgt_in[index, :width])  # (B, T, V)
        loss = F.cross_entropy(logits.flatten(0, 1), tgt_out[index, :width].flatten(), ignore_index=PAD)
        if not torch.isfinite(loss):
            raise TrainingError(f"non-finite loss at update {update}; stopped (try a lower lr)")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()

        if update % config.eval_every == 0 or update == config.updates:
            accuracy = float(np.mean(evaluate_seq2seq(model, task_name, problems)))
            perfect_streak = perfect_streak + 1 if accuracy == 1.0 else 0
            log(f"update {update}/{config.updates}  loss {loss.item():.4f}  train exact {accuracy:.3f}")
            if perfect_streak >= PERFECT_EVALUATIONS_TO_STOP:
                log(f"every training problem right {perfect_streak} evaluations in a row")
                break
    return model


def evaluate_seq2seq(model: Seq2Seq, task_name: str, problems: list[dict], batch: int = 512) -> list[bool]:
    """Exact match per problem, by batched greedy decoding of `batch` problems at a time."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    correct: list[bool] = []
    for lo in range(0, len(problems), batch):
        chunk = problems[lo : lo + batch]
        pairs = [encode(task_name, p) for p in chunk]
        src, src_lengths = _padded([s for s, _ in pairs], device)
        # A wrong model may never emit EOS: cut it off a little after the longest expected output.
        max_len = max(len(t) for _, t in pairs) + DECODE_MARGIN
        tokens = model.greedy_decode(src, src_lengths, max_len).tolist()
        correct += [
            decode(task_name, row) == expected(task_name, p) for row, p in zip(tokens, chunk, strict=True)
        ]
    model.train(was_training)
    return correct


def _padded(rows: list[list[int]], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
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
