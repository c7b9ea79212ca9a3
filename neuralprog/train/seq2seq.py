"""The seq2seq baseline's training: problems as plain token sequences (the codecs of
`neuralprog.execute.seq2seq`), no execution traces.

`train_preset` runs a `Seq2SeqPreset` (`neuralprog train sort-seq2seq`): it draws the problems exactly as
NPI's trainer draws its traces' problems for the same data section and seed, trains, and writes a
checkpoint.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from neuralprog import checkpoint
from neuralprog.execute.seq2seq import BOS, PAD, VOCAB_SIZE, codec, encode, expected, padded, run_seq2seq
from neuralprog.models.baselines import Seq2Seq, Seq2SeqConfig
from neuralprog.presets import Seq2SeqPreset, Seq2SeqTrainConfig, validate
from neuralprog.registry import program_task
from neuralprog.tasks import Task
from neuralprog.traces import Trace
from neuralprog.train.common import CHECKPOINT_NAME, TrainingError

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


def training_problems(task: Task, sizes: Iterable[int], per_size: int, seed: int) -> list[dict]:
    """The problems NPI's trainer records its traces of (`neuralprog.traces.generate` without `cover`):
    one generator seeded with `seed`, `per_size` problems of each size in turn."""
    rng = np.random.default_rng(seed)
    return [task.parse(task.sample(rng, size)) for size in sizes for _ in range(per_size)]


def train_preset(
    preset: Seq2SeqPreset,
    out_dir: str | Path,
    resume: bool = False,
    device: str = "cpu",
    traces: list[Trace] | None = None,
    log: Callable[[str], None] = print,
    progress: bool = True,
    tensorboard: bool = True,
) -> Path:
    """Train a seq2seq preset into `out_dir`, which must be new or empty; returns the checkpoint path.

    There is no resuming: the checkpoint is written once, at the end (a run takes minutes)."""
    if resume:
        raise TrainingError(f"{preset.name} is a seq2seq preset, which cannot resume; use a new --out")
    if traces is not None:
        raise TrainingError(f"{preset.name} is a seq2seq preset: it learns from problems, not from traces")
    validate(preset)
    out_dir = Path(out_dir)
    task = program_task(preset.task)
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
    path = checkpoint.save(
        out_dir / CHECKPOINT_NAME,
        "seq2seq",
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
    src, src_lengths = padded([s for s, _ in pairs], dev)
    tgt_in, tgt_lengths = padded([[BOS, *t[:-1]] for _, t in pairs], dev)
    tgt_out, _ = padded([t for _, t in pairs], dev)

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


def evaluate_seq2seq(model: Seq2Seq, task_name: str, problems: list[dict], batch: int = 512) -> list[bool]:
    """Exact match per problem, by batched greedy decoding of `batch` problems at a time."""
    outputs = run_seq2seq(model, task_name, problems, batch).outputs
    return [output == expected(task_name, p) for output, p in zip(outputs, problems, strict=True)]
