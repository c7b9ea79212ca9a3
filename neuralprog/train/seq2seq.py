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

`train_preset` runs a `Seq2SeqPreset` (`neuralprog train sort-seq2seq`): it draws the problems exactly as
NPI's trainer draws its traces' problems for the same data section and seed, trains, and writes a
checkpoint. `run_seq2seq` is the baseline's counterpart of the NPI interpreter (`neuralprog.execute.run`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F

from neuralprog import checkpoint
from neuralprog.execute import RunResult
from neuralprog.models.baselines import Seq2Seq, Seq2SeqConfig
from neuralprog.presets import Seq2SeqPreset, Seq2SeqTrainConfig  # the config lives with the presets
from neuralprog.tasks import Task, get_task
from neuralprog.train.supervised import CHECKPOINT_NAME, TrainingError

PLUS, BOS, EOS, PAD = 10, 11, 12, 13
VOCAB_SIZE = 14
DECODE_MARGIN = 5
"""Tokens decoded beyond the expected output's length before a row that has not ended is cut off."""
PERFECT_EVALUATIONS_TO_STOP = 2
"""Training stops once every training problem is decoded exactly right this many evaluations in a row."""


@dataclass
class Seq2SeqRun:
    """What `train_seq2seq` returns."""

    model: Seq2Seq
    """The trained model."""
    updates: int
    """Optimizer updates made (fewer than the maximum when training stopped early)."""
    seconds: float
    """Wall-clock training time, evaluations included."""
    train_exact: float
    """Exact-match accuracy on the training problems at the last evaluation."""


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


def training_problems(task: Task, sizes: Iterable[int], per_size: int, seed: int) -> list[dict]:
    """The problems NPI's trainer records its traces of (`neuralprog.traces.generate` without `cover`):
    one generator seeded with `seed`, `per_size` problems of each size in turn."""
    rng = np.random.default_rng(seed)
    return [task.parse(task.sample(rng, size)) for size in sizes for _ in range(per_size)]


def train_preset(
    preset: Seq2SeqPreset, out_dir: str | Path, device: str = "cpu", log: Callable[[str], None] = print
) -> Path:
    """Train a seq2seq preset into `out_dir`, which must be new or empty; returns the checkpoint path.

    There is no resuming: the checkpoint is written once, at the end (a run takes minutes)."""
    out_dir = Path(out_dir)
    task = get_task(preset.task)
    codec(task.name)  # a task without a codec fails here, before anything is written
    if preset.data.cover:
        raise ValueError("data.cover chooses traces by their steps; a seq2seq preset needs data.cover=0")
    problems = training_problems(task, preset.data.sizes, preset.data.per_size, preset.train.seed)
    if not problems:
        raise ValueError("no training problems; data.sizes and data.per_size must not be empty or 0")
    if out_dir.exists() and any(out_dir.iterdir()):
        raise TrainingError(f"{out_dir} already exists; choose another --out (seq2seq runs cannot resume)")
    out_dir.mkdir(parents=True, exist_ok=True)
    config = json.loads(json.dumps(asdict(preset)))
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    sizes = sorted({task.size(p) for p in problems})
    log(
        f"{len(problems)} problems of sizes {sizes[0]}-{sizes[-1]} (input/output pairs, no traces); "
        f"task {task.name}, preset {preset.name}"
    )
    model_config = Seq2SeqConfig(VOCAB_SIZE, **asdict(preset.model))
    result = train_seq2seq(task.name, problems, preset.train, model_config, device=device, log=log)
    path = checkpoint.save_seq2seq(
        out_dir / CHECKPOINT_NAME,
        result.model,
        task.name,
        preset=config,
        update=result.updates,
        elapsed=result.seconds,
        train_exact=result.train_exact,
        problems=len(problems),
        finished=True,
    )
    log(f"trained {result.updates} updates in {result.seconds:.1f}s")
    return path


def train_seq2seq(
    task_name: str,
    problems: list[dict],
    config: Seq2SeqTrainConfig | None = None,
    model_config: Seq2SeqConfig | None = None,
    device: str = "cpu",
    log: Callable[[str], None] = print,
) -> Seq2SeqRun:
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
    perfect_streak, update, accuracy = 0, 0, 0.0
    started = time.perf_counter()
    model.train()
    while update < config.updates:
        update += 1
        index = torch.from_numpy(rng.choice(len(problems), size=batch_size, replace=False)).to(dev)
        width = int(tgt_lengths[index].max())  # decode no further than this batch's longest target
        logits = model(src[index], src_lengths[index], tgt_in[index, :width])  # (B, T, V)
        loss = F.cross_entropy(logits.flatten(0, 1), tgt_out[index, :width].flatten(), ignore_index=PAD)
        if not torch.isfinite(loss):
            raise TrainingError(f"non-finite loss at update {update}; stopped (try a lower train.lr)")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()

        if update % config.eval_every == 0 or update == config.updates:
            accuracy = float(np.mean(evaluate_seq2seq(model, task_name, problems)))
            perfect_streak = perfect_streak + 1 if accuracy == 1.0 else 0
            elapsed = time.perf_counter() - started
            eta = elapsed / update * (config.updates - update)
            log(
                f"update {update}/{config.updates}  loss {loss.item():.4f}  train exact {accuracy:.3f}  "
                f"{elapsed:.0f}s  eta {eta:.0f}s"
            )
            if perfect_streak >= PERFECT_EVALUATIONS_TO_STOP:
                log(f"every training problem right {perfect_streak} evaluations in a row")
                break
    return Seq2SeqRun(model, update, time.perf_counter() - started, accuracy)


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
        src, src_lengths = _padded([s for s, _ in pairs], device)
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


def evaluate_seq2seq(model: Seq2Seq, task_name: str, problems: list[dict], batch: int = 512) -> list[bool]:
    """Exact match per problem, by batched greedy decoding of `batch` problems at a time."""
    outputs = run_seq2seq(model, task_name, problems, batch).outputs
    return [output == expected(task_name, p) for output, p in zip(outputs, problems, strict=True)]


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
