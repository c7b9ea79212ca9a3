"""New programs on a frozen core (Reed & de Freitas, Sec. 4.4): grow the program memory of a trained
model and train only the new rows of M_prog and M_key.

Everything else (encoders, core MLP, LSTM, heads, the old programs' embeddings and keys) stays bit for
bit as it was. Old programs are forbidden to call new ones (`NPIConfig.base_programs` masks those key
scores), so every old task runs exactly as before: no forgetting by construction. The new programs
learn from the frames of their own calls in oracle traces of the tasks that use them.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from neuralprog import checkpoint
from neuralprog.execute import check, run
from neuralprog.execute.common import attach_images
from neuralprog.frames import FrameData, batch_loss, frame_accuracy
from neuralprog.models.npi import NPI
from neuralprog.multitask import MultiTask
from neuralprog.registry import program_task, program_tasks
from neuralprog.tasks import Task
from neuralprog.traces import frames, generate
from neuralprog.train.common import CHECKPOINT_NAME, TrainingError


@dataclass(frozen=True)
class ExtendConfig:
    """How to learn new programs on a frozen core."""

    sizes: tuple[int, ...] = (2, 3, 4, 5, 6, 7, 8)
    """Problem sizes of the oracle traces that teach the new programs."""
    per_size: int = 16
    """Traces per size."""
    updates: int = 1500
    """Maximum number of updates."""
    batch_frames: int = 64
    """Frames of new programs per update."""
    lr: float = 1e-2
    """Adam learning rate (only a few embedding and key rows are trained)."""
    eval_every: int = 50
    """Updates between evaluations; training stops after two perfect ones in a row."""
    validation_problems: int = 32
    """Problems of the new programs' tasks, at the largest size, run at each evaluation."""
    seed: int = 0
    """Seed of the traces, the new rows' initial values and the batch order."""


def target_task(task: Task, new: list[str]) -> Task:
    """The registered task whose programs are `task`'s followed by exactly the `new` ones."""
    old = task.programs.names
    if len(set(new)) != len(new):
        raise ValueError(f"--programs lists a program twice: {','.join(new)}")
    existing = [p for p in new if p in old]
    if existing:
        raise ValueError(f"program {existing[0]} already exists in this {task.name} model")
    old_programs = task.programs.programs  # names and call lists: sort-recursive is not sort
    growths = {
        t.name: t.programs.names[len(old) :]
        for t in program_tasks()
        if t.programs.programs[: len(old)] == old_programs and len(t.programs) > len(old)
    }
    addable = sorted({p for names in growths.values() for p in names})
    unknown = [p for p in new if p not in addable]
    if unknown:
        hint = ", ".join(addable) if addable else "none"
        raise ValueError(f"unknown program {unknown[0]!r}; programs that can be added to this model: {hint}")
    for name, names in growths.items():
        if sorted(names) == sorted(new):
            return program_task(name)
    options = "; ".join(",".join(names) for names in growths.values())
    raise ValueError(f"no task uses exactly {','.join(new)}; add one of these sets together: {options}")


def grow(model: NPI, n_new: int, seed: int) -> NPI:
    """A copy of `model` with `n_new` more program rows; older programs may not call the new ones."""
    c = model.config
    config = dataclasses.replace(
        c, n_programs=c.n_programs + n_new, base_programs=(*c.base_programs, c.n_programs)
    )
    bigger = NPI(config).to(model.program_keys.device)
    state = model.state_dict()
    generator = torch.Generator().manual_seed(seed)
    new_embedding = 0.1 * torch.randn(n_new, c.program_size, generator=generator)
    new_keys = torch.randn(n_new, c.key_size, generator=generator)
    state["program_embedding"] = torch.cat(
        [state["program_embedding"], new_embedding.to(state["program_embedding"])]
    )
    state["program_keys"] = torch.cat([state["program_keys"], new_keys.to(state["program_keys"])])
    bigger.load_state_dict(state)
    return bigger


def extend(
    checkpoint_path: str | Path,
    new_programs: list[str],
    out_dir: str | Path,
    config: ExtendConfig = ExtendConfig(),
    device: str = "cpu",
    log: Callable[[str], None] = print,
) -> Path:
    """Add `new_programs` to a trained model and train only their embeddings and keys."""
    out_dir = Path(out_dir)
    payload = checkpoint.load(checkpoint_path, kind=NPI.kind)
    try:
        task = program_task(payload["task"])
    except ValueError as e:
        raise checkpoint.CheckpointError(f"{checkpoint_path}: {e}") from None
    target = target_task(task, new_programs)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise TrainingError(f"{out_dir} already exists; choose another --out")
    dev = torch.device(device)
    old = checkpoint.load_model(payload, NPI, task, dev)
    n_old = len(task.programs)
    model = grow(old, len(target.programs) - n_old, config.seed)
    attach_images(model, target)

    # Only the new rows of the program memory learn: every other gradient is off, and the old rows'
    # gradients are zeroed, so Adam (no weight decay) leaves them exactly as they were.
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    memory = [model.program_embedding, model.program_keys]
    for parameter in memory:
        parameter.requires_grad_(True)
        parameter.register_hook(lambda grad: torch.cat([torch.zeros_like(grad[:n_old]), grad[n_old:]]))
    optimizer = torch.optim.Adam(memory, lr=config.lr)

    learner = target  # the problems that teach the new programs: those of the tasks that use them
    if isinstance(target, MultiTask):
        learner = target.only(
            *[n for n, part in target.parts.items() if set(new_programs) & set(part.programs.names)]
        )
    traces = generate(learner, config.sizes, config.per_size, seed=config.seed)
    new_frames = [f for t in traces for f in frames(target, t) if f.program >= n_old]
    data = FrameData(new_frames, dev)
    rng = np.random.default_rng([config.seed, 1])
    validation = [learner.sample(rng, max(config.sizes)) for _ in range(config.validation_problems)]
    log(f"{target.name}: training {', '.join(new_programs)} on {len(data)} frames of {len(traces)} traces")

    started, streak, update = time.perf_counter(), 0, 0
    model.train()
    while update < config.updates:
        batch = data.batch(rng.integers(0, len(data), size=config.batch_frames))
        loss = batch_loss(model, batch)[0].mean()
        if not torch.isfinite(loss):
            raise TrainingError(f"non-finite loss at update {update + 1}; stopped (try a lower lr)")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        update += 1
        if update % config.eval_every == 0:
            accuracy = frame_accuracy(model, data).step_accuracy
            val = float(np.mean(check(learner, validation, run(model, learner, validation))))
            model.train()
            log(
                f"update {update}/{config.updates}  loss {loss.item():.4f}  "
                f"steps {accuracy:.4f}  validation {val:.3f}"
            )
            streak = streak + 1 if accuracy == 1.0 and val == 1.0 else 0
            if streak >= 2:
                break
    seconds = time.perf_counter() - started
    out_dir.mkdir(parents=True, exist_ok=True)
    path = checkpoint.save(
        out_dir / CHECKPOINT_NAME,
        "npi",
        model,
        target.name,
        env=target.env_id,
        programs=target.programs.to_json(),
        extended_from=str(checkpoint_path),
        new_programs=list(new_programs),
        extend_config=dataclasses.asdict(config),
        update=update,
        elapsed=seconds,
        finished=True,
    )
    log(f"trained {', '.join(new_programs)} in {update} updates, {seconds:.1f}s")
    return path
