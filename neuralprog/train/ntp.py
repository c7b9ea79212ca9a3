"""Training Neural Task Programming models on expert traces, readable top to bottom in `train`.

Data: the preset's trials (tasks x trials per task, each from its own start, each with a demonstration
from another start) are run by the expert in lockstep and split into call frames. A frame is a program,
the demonstration frames it was handed (its scope) and its steps: the observation each step saw, and
what it did (the next program with its argument and the scope handed on, or return).

An update draws `batch_frames` call frames (half uniformly, half by program in proportion to each
program's recent step error: NPI's adaptive curriculum), runs the model over them with teacher forcing
and minimises the sum of four cross-entropies: next program, end of program, the API's object argument,
and the Start/End/Inside/Outside label of every frame in scope (scoped models only). Adam, with linear
warm-up and cosine decay. Every `eval_every` updates the interpreter executes validation trials of the
training tasks from new starts; training stops early once they are all solved `stop_after_perfect`
times in a row.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from neuralprog import checkpoint
from neuralprog.envs.tabletop.experts import Step, Trace, record
from neuralprog.envs.tabletop.tasks import BlockStacking, TabletopTask
from neuralprog.execute import check
from neuralprog.execute.ntp import run
from neuralprog.models.ntp import NTP, NTPConfig, scope_labels
from neuralprog.presets import NTPPreset, validate
from neuralprog.registry import tabletop_task
from neuralprog.train.common import CHECKPOINT_NAME, MetricsLog, Progress, TrainingError, open_run


def training_problems(task: TabletopTask, preset: NTPPreset) -> list[dict]:
    """The preset's training trials (fixed by its seed)."""
    d, seed = preset.data, preset.train.seed
    if isinstance(task, BlockStacking):
        tasks = [t for t in task.split("train", d.train_tasks) if sum(len(x) - 1 for x in t) <= d.max_goals]
        return task.trials(tasks, d.trials_per_task, seed)
    rng = np.random.default_rng([seed, 11])
    maps = task.maps("train")  # type: ignore[attr-defined]
    return [
        {"containers": m, "objects_per_category": 1, "seed": int(s)}
        for m in maps
        for s in rng.integers(0, 2**31, d.trials_per_task)
    ]


def validation_problems(task: TabletopTask, preset: NTPPreset, n: int) -> list[dict]:
    """n trials of the training tasks from starts the training trials do not use."""
    problems = training_problems(task, preset)
    rng = np.random.default_rng([preset.train.seed, 12])
    picks = rng.choice(len(problems), n, replace=len(problems) < n)
    return [{**problems[i], "seed": int(rng.integers(2**31))} for i in picks]


@dataclass
class Frames:
    """Call frames as arrays (NF frames of at most Tm steps; NT trials)."""

    trial_obs: np.ndarray  # (NT, To, F) observations of each trial
    spec: np.ndarray  # (NT, L, F) demonstration frames, zero-padded
    spec_len: np.ndarray  # (NT,)
    trial: np.ndarray  # (NF,) the frame's trial
    program: np.ndarray  # (NF,)
    scope: np.ndarray  # (NF, 2)
    obs: np.ndarray  # (NF, Tm) observation index of each step, -1 padding
    next_program: np.ndarray  # (NF, Tm) -1 where the step returns (or padding)
    arg: np.ndarray  # (NF, Tm) -1 where none
    next_scope: np.ndarray  # (NF, Tm, 2) -1 where none
    end: np.ndarray  # (NF, Tm) bool

    def __len__(self) -> int:
        return len(self.trial)


def call_frames(steps: list[Step]) -> list[list[Step]]:
    """Split a trace's steps (execution order) into call frames."""
    frames: list[list[Step]] = []
    open_frames: list[list[Step]] = []
    for step in steps:
        if step.depth == len(open_frames):
            open_frames.append([])
        if step.depth != len(open_frames) - 1:
            raise ValueError(
                f"a trace step at depth {step.depth} follows a frame at depth {len(open_frames) - 1}"
            )
        open_frames[-1].append(step)
        if step.end:
            frames.append(open_frames.pop())
    if open_frames:
        raise ValueError("a trace ends inside an open call frame")
    return frames


def to_frames(task: TabletopTask, traces: list[Trace]) -> Frames:
    ids = {name: i for i, name in enumerate(task.programs.names)}
    per_trace = [call_frames(t.steps) for t in traces]
    nf = sum(len(f) for f in per_trace)
    tm = max(len(frame) for frames in per_trace for frame in frames)
    to = max(len(t.obs) for t in traces)
    longest = max(len(t.spec) for t in traces)
    size = traces[0].obs.shape[1]
    trial_obs = np.zeros((len(traces), to, size), dtype=np.float32)
    spec = np.zeros((len(traces), longest, size), dtype=np.float32)
    out = Frames(
        trial_obs, spec, np.array([len(t.spec) for t in traces]),
        np.zeros(nf, dtype=np.int64), np.zeros(nf, dtype=np.int64), np.zeros((nf, 2), dtype=np.int64),
        np.full((nf, tm), -1), np.full((nf, tm), -1), np.full((nf, tm), -1), np.full((nf, tm, 2), -1),
        np.zeros((nf, tm), dtype=bool),
    )  # fmt: skip
    k = 0
    for i, (t, frames) in enumerate(zip(traces, per_trace, strict=True)):
        trial_obs[i, : len(t.obs)] = t.obs
        spec[i, : len(t.spec)] = t.spec
        for frame in frames:
            out.trial[k], out.program[k], out.scope[k] = i, ids[frame[0].program], frame[0].scope
            for j, s in enumerate(frame):
                out.obs[k, j], out.arg[k, j], out.end[k, j] = s.obs, s.arg, s.end
                if s.next is not None:
                    out.next_program[k, j] = ids[s.next]
                    out.next_scope[k, j] = s.next_scope
            k += 1
    return out


def batch_of(
    data: Frames,
    picks: np.ndarray,
    device: torch.device,
    augment: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> dict[str, torch.Tensor]:
    """The tensors of the chosen frames, trimmed to their longest frame and specification; `augment`
    (program ids (B,), observations (B, T, F)) -> observations varies them for training."""
    steps = int((data.obs[picks] >= 0).sum(1).max())
    trials = data.trial[picks]
    length = int(data.spec_len[trials].max())
    obs_index = data.obs[picks, :steps]
    j = np.arange(length)
    scope = data.scope[picks]
    obs = data.trial_obs[trials[:, None], obs_index.clip(0)]
    if augment is not None:
        obs = augment(data.program[picks], obs)
    arrays = {
        "program": data.program[picks],
        "obs": obs,
        "spec": data.spec[trials, :length],
        "scope": (j >= scope[:, :1]) & (j <= scope[:, 1:]),
        "valid": obs_index >= 0,
        "next_program": data.next_program[picks, :steps],
        "arg": data.arg[picks, :steps],
        "next_scope": data.next_scope[picks, :steps],
        "end": data.end[picks, :steps],
    }
    return {k: torch.from_numpy(np.ascontiguousarray(v)).to(device) for k, v in arrays.items()}


def losses(model: NTP, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float], torch.Tensor]:
    """The summed loss, its parts, and which steps the model gets fully right (B, T)."""
    out = model(batch)
    valid, calls = batch["valid"], batch["next_program"] >= 0
    end_loss = F.binary_cross_entropy_with_logits(out["end"][valid], batch["end"][valid].float())
    right = (out["end"] > 0) == batch["end"]
    right &= ~calls | (out["program"].argmax(-1) == batch["next_program"])
    parts = {"end": end_loss.item()}
    total = end_loss
    if calls.any():  # a batch of frames that all return at once has no call to learn
        program_loss = F.cross_entropy(out["program"][calls], batch["next_program"][calls])
        total = total + program_loss
        parts["program"] = program_loss.item()
    if "arg" in out:
        target = batch["arg"][batch["arg"] >= 0]
        arg_loss = F.cross_entropy(out["arg"], target)
        total = total + arg_loss
        parts["arg"] = arg_loss.item()
        arg_right = torch.ones_like(right)
        arg_right[batch["arg"] >= 0] = out["arg"].argmax(-1) == target
        right &= arg_right
    if "labels" in out and calls.any():
        labels = scope_labels(batch["next_scope"], batch["scope"])
        label_loss = F.cross_entropy(out["labels"].flatten(0, 2), labels.flatten(), ignore_index=-100)
        total = total + label_loss
        parts["scope"] = label_loss.item()
        predicted = out["labels"].argmax(-1)
        right &= ((predicted == labels) | (labels < 0)).all(-1)
    return total, parts, right & valid


def _leaf(task: TabletopTask, name: str) -> bool:
    """A program that calls only the API (PICK, PLACE, RELEASE)."""
    program = task.programs[name]
    return not program.primitive and all(task.programs[c].primitive for c in program.calls)


def model_config(task: TabletopTask, preset: NTPPreset) -> NTPConfig:
    m = preset.model
    return NTPConfig(
        obs_size=task.obs_size,
        objects=task.n_objects,
        n_programs=len(task.programs),
        n_objects=task.n_objects,
        hidden_size=m.hidden_size,
        program_size=m.program_size,
        key_size=m.key_size,
        core=m.core,
        scoped=m.scoped,
        tsi_layers=m.tsi_layers,
    )


def train(
    preset: NTPPreset,
    out_dir: str | Path,
    resume: bool = False,
    device: str = "cpu",
    traces: list | None = None,
    log: Callable[[str], None] = print,
    progress: bool = True,
    tensorboard: bool = True,
) -> Path:
    """Train `preset` into `out_dir`; returns the path of the final checkpoint."""
    if traces is not None:
        raise TrainingError(f"{preset.name} makes its own expert traces; --traces applies to NPI presets")
    validate(preset)
    threads = torch.get_num_threads()
    torch.set_num_threads(preset.train.threads)
    try:
        return _train(preset, Path(out_dir), resume, torch.device(device), log, progress, tensorboard)
    finally:
        torch.set_num_threads(threads)


def _train(
    preset: NTPPreset,
    out_dir: Path,
    resume: bool,
    dev: torch.device,
    log: Callable[[str], None],
    progress: bool,
    tensorboard: bool,
) -> Path:
    task = tabletop_task(preset.task).using(preset.data.backend)
    cfg = preset.train
    ckpt_path = out_dir / CHECKPOINT_NAME
    preset_json = json.loads(json.dumps(asdict(preset)))
    torch.manual_seed(cfg.seed)
    model = NTP(model_config(task, preset)).to(dev)
    state = open_run(out_dir, preset_json, task.name, NTP.kind, resume)

    started = time.perf_counter()
    problems = training_problems(task, preset)
    if not problems:
        raise TrainingError(f"{preset.name}: no training tasks (check data.train_tasks and data.max_goals)")
    data = to_frames(task, record(task, problems, preset.data.hierarchical))
    validation = validation_problems(task, preset, cfg.validation_problems)
    log(
        f"{preset.name}: {len(problems)} trials, {len(data)} call frames, expert traces in "
        f"{time.perf_counter() - started:.1f}s"
    )

    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)

    def rate(update: int) -> float:
        if update < cfg.warmup:
            return (update + 1) / cfg.warmup
        t = (update - cfg.warmup) / max(cfg.updates - cfg.warmup, 1)
        return cfg.lr_final + (1 - cfg.lr_final) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, rate)
    rng = np.random.default_rng([cfg.seed, 2])
    n_programs = len(task.programs)
    error = np.ones(n_programs)  # recent step error of each program's frames
    by_program = [np.flatnonzero(data.program == i) for i in range(n_programs)]
    update, elapsed, perfect, success = 0, 0.0, 0, 0.0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        rng.bit_generator.state = json.loads(state["rng"])
        error = np.asarray(state["curriculum"], dtype=np.float64)
        update, elapsed, perfect, success = (
            state["update"],
            state["elapsed"],
            state["perfect"],
            state["success"],
        )
        log(f"resumed {ckpt_path} at update {update}")

    def save(finished: bool) -> Path:
        return checkpoint.save(
            ckpt_path, NTP.kind, model, task.name, env=task.env_id, preset=preset_json,
            programs=task.programs.to_json(), optimizer=optimizer.state_dict(),
            scheduler=scheduler.state_dict(), rng=json.dumps(rng.bit_generator.state),
            curriculum=error.tolist(), update=update, elapsed=elapsed, perfect=perfect,
            success=success, finished=finished,
        )  # fmt: skip

    def draw() -> np.ndarray:
        half = cfg.batch_frames // 2 if cfg.curriculum else cfg.batch_frames
        picks = [rng.integers(0, len(data), half)]
        if cfg.curriculum:
            live = [i for i in range(n_programs) if len(by_program[i])]
            weight = np.array([error[i] + 0.02 for i in live])
            chosen = rng.choice(live, cfg.batch_frames - half, p=weight / weight.sum())
            picks += [by_program[i][rng.integers(len(by_program[i]))] for i in chosen]
        return np.concatenate([np.atleast_1d(p) for p in picks]).astype(np.int64)

    leaves = np.array([_leaf(task, name) for name in task.programs.names])
    root = task.programs.id(task.root)

    def augment(programs: np.ndarray, obs: np.ndarray) -> np.ndarray:
        """Counterfactual observations a call must act the same on (see TabletopTask.relocate, phantoms)."""
        obs = obs.copy()
        called = programs != root
        obs[called, 0] = task.relocate(obs[called, 0], rng, cfg.augment)
        leaf = leaves[programs]
        obs[leaf] = task.phantoms(obs[leaf], rng, cfg.augment)
        return obs

    bar = Progress(cfg.updates, update, progress, log)
    metrics = MetricsLog(out_dir, update, tensorboard, log)
    try:
        while update < cfg.updates and not (cfg.stop_after_perfect and perfect >= cfg.stop_after_perfect):
            tick = time.perf_counter()
            model.train()
            picks = draw()
            batch = batch_of(data, picks, dev, augment if cfg.augment > 0 else None)
            loss, parts, right = losses(model, batch)
            if not torch.isfinite(loss):
                raise TrainingError(f"loss became {loss.item()} at update {update}; lower train.lr and retry")
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            scheduler.step()
            update += 1
            # the curriculum's error estimate of each program drawn in this batch
            frame_right = (right | ~batch["valid"]).all(1).cpu().numpy()
            for i in np.unique(data.program[picks]):
                here = data.program[picks] == i
                error[i] = 0.9 * error[i] + 0.1 * (1 - frame_right[here].mean())
            elapsed += time.perf_counter() - tick
            accuracy = float(right.sum() / batch["valid"].sum())
            bar.advance(update, loss.item(), accuracy)
            row: dict[str, float] = {
                "update": update,
                "train/loss": loss.item(),
                "train/step_accuracy": accuracy,
            }
            row |= {f"train/loss_{k}": v for k, v in parts.items()}
            row["lr"] = float(scheduler.get_last_lr()[0])
            if update % cfg.eval_every == 0 or update == cfg.updates:
                tick = time.perf_counter()
                result = run(model, task, validation)
                success = float(check(task, validation, result).mean())
                elapsed += time.perf_counter() - tick
                perfect = perfect + 1 if success == 1.0 else 0
                row["eval/success"] = success
                bar.note(update, f"step acc {accuracy:.3f}  validation success {success:.3f}")
            row["time"] = round(elapsed, 3)  # the validation included
            metrics.write(row)
            if update % cfg.checkpoint_every == 0:
                metrics.flush()
                save(False)
    finally:
        metrics.close()
        bar.close()
    log(f"{preset.name}: {update} updates, {elapsed:.0f}s, validation success {success:.3f}")
    return save(True)
