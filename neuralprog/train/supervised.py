"""Supervised NPI training on oracle traces, batched across call frames.

Every call frame starts from a zero LSTM state, so a trace set is a bag of independent sequences. One
update draws a batch of frames (uniformly or by the adaptive curriculum), packs them into one
PackedSequence and runs the whole batch through the model at once. The run is readable top to bottom
in `train`: data, model, optimizer, then the loop with evaluation, checkpoints and early stopping.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch.nn.utils.rnn import PackedSequence

from neuralprog import checkpoint
from neuralprog.evaluate import check
from neuralprog.execute import run
from neuralprog.models.npi import NPI, NPIConfig, step_losses
from neuralprog.presets import Preset
from neuralprog.tasks import Task, get_task
from neuralprog.traces import Frame, Trace, frame_key, frames, generate, record
from neuralprog.train.curriculum import FrameSampler

CHECKPOINT_NAME = "checkpoint.pt"


class TrainingError(RuntimeError):
    """A run that cannot start or cannot go on (exists already, diverged...); the message says why."""


@dataclasses.dataclass
class FrameBatch:
    obs: PackedSequence  # packed (T_i, F) observations
    args: torch.Tensor  # (N, 3) the frame's arguments, per packed step
    program: torch.Tensor  # (N,) the frame's program, per packed step
    env: torch.Tensor  # (N,) the frame's environment (encoder), per packed step
    next_program: torch.Tensor  # (N,)
    next_args: torch.Tensor  # (N, 3)
    end: torch.Tensor  # (N,) bool
    steps: np.ndarray  # (N,) index of each packed step in FrameData's flat step arrays
    frames: np.ndarray  # (N,) index of each packed step's frame


class FrameData:
    """All frames of a trace set, flattened into arrays so that any batch is a few index operations."""

    def __init__(self, frame_list: list[Frame], device: torch.device):
        self.device = device
        # Identical frames (same program, arguments, observations and targets) are common: sorting's 1,216
        # traces hold 658k frames but 31k distinct ones. A teacher-forced evaluation runs each once.
        first_of: dict[bytes, int] = {}
        self.copy_of = np.asarray([first_of.setdefault(frame_key(f), i) for i, f in enumerate(frame_list)])
        self.distinct, self.copies = np.unique(self.copy_of, return_counts=True)
        self.length = np.asarray([len(f.end) for f in frame_list])
        self.start = np.concatenate([[0], np.cumsum(self.length)[:-1]])
        self.program = np.asarray([f.program for f in frame_list])
        self.env = np.asarray([f.env for f in frame_list])
        self.args = np.asarray([f.args for f in frame_list], dtype=np.int64)
        width = max(f.obs.shape[1] for f in frame_list)  # environments differ in observation fields
        obs = [np.pad(f.obs, ((0, 0), (0, width - f.obs.shape[1]))) for f in frame_list]
        self.obs = torch.from_numpy(np.concatenate(obs)).to(device)
        self.next_program = torch.from_numpy(np.concatenate([f.next_program for f in frame_list])).to(device)
        self.next_args = torch.from_numpy(np.concatenate([f.next_args for f in frame_list])).to(device)
        self.end = torch.from_numpy(np.concatenate([f.end for f in frame_list])).to(device)

    def __len__(self) -> int:
        return len(self.length)

    @property
    def steps(self) -> int:
        return int(self.length.sum())

    def batch(self, index: np.ndarray) -> FrameBatch:
        """Pack the frames `index` time-major, longest first (the layout nn.LSTM expects)."""
        index = index[np.argsort(-self.length[index], kind="stable")]
        lengths = self.length[index]
        t = np.arange(lengths[0])[:, None]  # (T, 1)
        valid = t < lengths[None, :]  # (T, n)
        step = (self.start[index][None, :] + t)[valid]  # packed order: time-major
        frame = np.broadcast_to(np.arange(len(index)), valid.shape)[valid]
        batch_sizes = torch.from_numpy(valid.sum(1))
        step_t = torch.from_numpy(step).to(self.device)
        return FrameBatch(
            obs=PackedSequence(self.obs[step_t], batch_sizes),
            args=torch.from_numpy(self.args[index][frame]).to(self.device),
            program=torch.from_numpy(self.program[index][frame]).to(self.device),
            env=torch.from_numpy(self.env[index][frame]).to(self.device),
            next_program=self.next_program[step_t],
            next_args=self.next_args[step_t],
            end=self.end[step_t],
            steps=step,
            frames=index[frame],
        )


def batch_loss(model: NPI, batch: FrameBatch):
    out = model.forward_frames(batch.obs, batch.args, batch.program, batch.env)
    return step_losses(out, batch.next_program, batch.next_args, batch.end)


@dataclasses.dataclass
class FrameAccuracy:
    frame_ok: np.ndarray  # (len(data),) every step of the frame right
    step_accuracy: float  # over all steps of all frames
    per_program: dict[int, float]  # step accuracy per program id


@torch.no_grad()
def frame_accuracy(model: NPI, data: FrameData, chunk: int = 4096) -> FrameAccuracy:
    """Teacher-forced evaluation of every frame's steps (each distinct frame run once): which frames are
    right, step accuracy overall and per program."""
    model.eval()
    distinct = data.distinct
    distinct_ok = np.ones(len(distinct), dtype=bool)
    step_ok, step_program, step_copies = [], [], []
    for lo in range(0, len(distinct), chunk):
        part = distinct[lo : lo + chunk]
        batch = data.batch(part)
        _, ok = batch_loss(model, batch)
        ok_np = ok.cpu().numpy()
        distinct_ok[lo : lo + chunk] = ~np.isin(part, batch.frames[~ok_np])
        step_ok.append(ok_np)
        step_program.append(data.program[batch.frames])
        step_copies.append(data.copies[np.searchsorted(distinct, batch.frames)])
    model.train()
    ok_all, program_all, copies = map(np.concatenate, (step_ok, step_program, step_copies))

    def accuracy(steps: np.ndarray) -> float:
        return float((ok_all[steps] * copies[steps]).sum() / copies[steps].sum())

    per_program = {int(p): accuracy(program_all == p) for p in np.unique(program_all)}
    frame_ok = distinct_ok[np.searchsorted(distinct, data.copy_of)]
    return FrameAccuracy(frame_ok, accuracy(np.ones(len(ok_all), dtype=bool)), per_program)


def build_model(task: Task, preset: Preset, seed: int) -> NPI:
    torch.manual_seed(seed)
    config = NPIConfig(
        obs_sizes=task.env_obs_sizes,
        n_programs=len(task.programs),
        arg_size=task.programs.arg_size,
        **asdict(preset.model),
    )
    return NPI(config)


def train(
    preset: Preset,
    out_dir: str | Path,
    resume: bool = False,
    device: str = "cpu",
    traces: list[Trace] | None = None,
    log: Callable[[str], None] = print,
    progress: bool = True,
) -> Path:
    """Train `preset` into `out_dir`; returns the path of the final checkpoint."""
    out_dir = Path(out_dir)
    ckpt_path = out_dir / CHECKPOINT_NAME
    task = get_task(preset.task)
    cfg = preset.train
    if cfg.repair_traces:
        try:
            task.verification_problems()
        except ValueError as e:
            raise TrainingError(f"train.repair_traces needs a task with a verification set: {e}") from None
    dev = torch.device(device)

    state = open_run(out_dir, _preset_json(preset), task.name, "npi", resume)

    # Data: oracle traces (generated from the seed unless given), plus the counterexamples added so far
    # (see train.repair_traces), split into frames.
    if traces is None:
        traces = generate(
            task, preset.data.sizes, preset.data.per_size, seed=cfg.seed, cover=preset.data.cover
        )
    max_size = max(task.size(t.problem) for t in traces)
    repairs: list[dict] = list(state.get("repairs", [])) if state is not None else []
    traces = traces + [record(task, p) for p in repairs]

    def frame_data() -> tuple[FrameData, FrameSampler]:
        """The frames of `traces` and a sampler over them."""
        data = FrameData([f for t in traces for f in frames(task, t)], dev)
        sampler = FrameSampler(
            data.program, cfg.curriculum, cfg.curriculum_temperature, cfg.curriculum_hard_fraction
        )
        return data, sampler

    data, sampler = frame_data()
    validation_rng = np.random.default_rng([cfg.seed, 2])
    validation = [task.sample(validation_rng, max_size) for _ in range(cfg.validation_problems)]
    log(
        f"{len(traces)} traces, {len(data)} frames, {data.steps} steps; "
        f"task {task.name}, preset {preset.name}"
    )

    # Model, optimizer, sampler state; restored from the checkpoint when resuming.
    model = build_model(task, preset, cfg.seed).to(dev)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    rng = np.random.default_rng([cfg.seed, 1])
    update, perfect_streak, steps_streak, elapsed, best_accuracy = 0, 0, 0, 0.0, 0.0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        sampler.load_state(state["sampler"])
        rng.bit_generator.state = json.loads(state["rng"])
        update, perfect_streak, elapsed = state["update"], state["perfect_streak"], state["elapsed"]
        steps_streak = state.get("steps_streak", 0)  # absent from checkpoints of 2026-12-02 and before
        best_accuracy = state["best_accuracy"]
        _truncate_metrics(out_dir / "metrics.jsonl", update)
        log(f"resumed {ckpt_path} at update {update}")

    def save(finished: bool) -> Path:
        return checkpoint.save(
            ckpt_path,
            model,
            task.name,
            task.env_id,
            task.programs,
            preset=_preset_json(preset),
            optimizer=optimizer.state_dict(),
            sampler=sampler.state(),
            rng=json.dumps(rng.bit_generator.state),
            update=update,
            perfect_streak=perfect_streak,
            steps_streak=steps_streak,
            best_accuracy=best_accuracy,
            elapsed=elapsed,
            finished=finished,
            traces=len(traces),
            repairs=repairs,
            verified=verified,
        )

    model.train()
    metrics = (out_dir / "metrics.jsonl").open("a")
    bar = _Progress(cfg.updates, update, enabled=progress, log=log)
    started = time.perf_counter() - elapsed
    verified: bool | None = state.get("verified") if state is not None else None
    try:
        while True:  # a round of training; then, while the model is not verified, counterexamples
            while update < cfg.updates:
                batch = data.batch(sampler.sample(rng, cfg.batch_frames))
                loss_per_step, correct = batch_loss(model, batch)
                loss = loss_per_step.mean()
                wrong_steps = batch.frames[~correct.cpu().numpy()]
                sampler.observe(batch.frames, np.isin(batch.frames, wrong_steps))
                if not torch.isfinite(loss):
                    raise TrainingError(
                        f"non-finite loss at update {update + 1}; stopped. "
                        f"The last good checkpoint is {ckpt_path}"
                        " (try a lower train.lr)"
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                optimizer.step()
                update += 1
                if update % cfg.lr_decay_every == 0:
                    _scale_lr(optimizer, cfg.lr_decay)
                elapsed = time.perf_counter() - started
                row = {"update": update, "time": round(elapsed, 3), "train/loss": loss.item()}
                row["train/step_accuracy"] = correct.float().mean().item()
                bar.advance(update, loss=row["train/loss"], acc=row["train/step_accuracy"])

                if update % cfg.eval_every == 0 or update == cfg.updates:
                    evaluation = frame_accuracy(model, data)
                    accuracy, per_program = evaluation.step_accuracy, evaluation.per_program
                    if accuracy < best_accuracy:
                        _scale_lr(optimizer, cfg.lr_drop, floor=cfg.lr_min)
                    best_accuracy = max(best_accuracy, accuracy)
                    row["train/lr"] = optimizer.param_groups[0]["lr"]
                    sampler.update(~evaluation.frame_ok)
                    val = float(np.mean(check(task, validation, run(model, task, validation).outputs)))
                    model.train()
                    names = task.programs.names
                    row["eval/step_accuracy"] = accuracy
                    row.update({f"eval/step_accuracy/{names[p]}": a for p, a in per_program.items()})
                    row[f"eval/validation_accuracy@{max_size}"] = val
                    steps_streak = steps_streak + 1 if accuracy == 1.0 else 0
                    perfect_streak = perfect_streak + 1 if accuracy == 1.0 and val == 1.0 else 0
                    bar.note(
                        update,
                        f"steps {accuracy:.4f}  validation@{max_size} {val:.3f}  "
                        + _worst(per_program, names),
                    )
                metrics.write(json.dumps(row) + "\n")
                validated = perfect_streak >= cfg.stop_after_perfect
                lacking = len(repairs) < cfg.repair_traces and steps_streak >= 3 * cfg.stop_after_perfect
                stop = cfg.stop_after_perfect and (validated or lacking)
                if update % cfg.checkpoint_every == 0 and not stop:
                    metrics.flush()
                    save(finished=False)
                if stop:
                    if validated:
                        what, streak = "every training step and validation problem right", perfect_streak
                    else:
                        what, streak = "every training step right (some validation wrong)", steps_streak
                    log(f"{what} {streak} times in a row")
                    break
            if not cfg.repair_traces or update >= cfg.updates:
                break
            budget = min(cfg.repair_per_round, cfg.repair_traces - len(repairs))
            counterexamples, verified = _counterexamples(model, task, max_size, budget)
            if not counterexamples:
                log(
                    "verified" if verified else "not verified; no counterexample left within budget and sizes"
                )
                break
            repairs += counterexamples
            traces += [record(task, p) for p in counterexamples]
            data, sampler = frame_data()
            perfect_streak, steps_streak, best_accuracy = 0, 0, 0.0
            log(f"not verified: {len(counterexamples)} counterexamples added, {len(traces)} traces in all")
            save(finished=False)
    finally:
        metrics.close()
        bar.close()
    path = save(finished=True)
    log(f"trained {update} updates in {elapsed:.1f}s")
    return path


def open_run(out_dir: Path, preset_json: dict, task: str, kind: str, resume: bool) -> dict | None:
    """Prepare a run directory and write its config.json. Resuming returns the checkpoint to continue
    from, which must be of the same preset (only train.updates may change); a new run needs a new or
    empty directory."""
    ckpt_path = out_dir / CHECKPOINT_NAME
    state = None
    if resume:
        if not ckpt_path.exists():
            raise TrainingError(f"nothing to resume: {ckpt_path} does not exist")
        state = checkpoint.load(ckpt_path, task=task, kind=kind)
        if not _same_run(state.get("preset"), preset_json):
            raise TrainingError(
                f"{ckpt_path} was trained with another preset or overrides; resume with the same ones"
                " (only train.updates may change, to extend a run)"
            )
    elif out_dir.exists() and any(out_dir.iterdir()):
        raise TrainingError(f"{out_dir} already exists; pass --resume to continue it or choose another --out")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.json").write_text(json.dumps(preset_json, indent=2) + "\n")
    return state


def _counterexamples(model: NPI, task: Task, max_size: int, budget: int) -> tuple[list[dict], bool]:
    """Verify the model; return up to `budget` of the shortest problems on which it differs from the
    oracle (no longer than `max_size`), and whether it is verified."""
    from neuralprog.verify import verify

    result = verify(model, task, show=0)
    model.train()
    short = [p for p in result.wrong_problems if task.size(p) <= max_size]
    return short[: max(budget, 0)], result.verified


def _scale_lr(optimizer: torch.optim.Optimizer, factor: float, floor: float = 0.0) -> None:
    for group in optimizer.param_groups:
        group["lr"] = max(group["lr"] * factor, min(floor, group["lr"]))


def _preset_json(preset: Preset) -> dict:
    return json.loads(json.dumps(asdict(preset)))


def _same_run(saved: dict | None, wanted: dict) -> bool:
    """Same preset and overrides, except train.updates. A field the saved run's version did not have yet
    is left out, so a run started before an option was added still resumes."""
    if saved is None:
        return False

    def known(preset: dict) -> dict:
        return {
            section: {k: v for k, v in fields.items() if k in saved.get(section, {}) and k != "updates"}
            if isinstance(fields, dict)
            else fields
            for section, fields in preset.items()
        }

    return known(saved) == known(wanted)


def _worst(per_program: dict[int, float], names: list[str]) -> str:
    worst = sorted(per_program.items(), key=lambda kv: kv[1])[:2]
    return " ".join(f"{names[p]} {a:.3f}" for p, a in worst)


def _truncate_metrics(path: Path, update: int) -> None:
    """Drop metric lines written after the checkpoint we resume from (they will be written again)."""
    if not path.exists():
        return
    keep = [line for line in path.read_text().splitlines() if json.loads(line).get("update", 0) <= update]
    path.write_text("".join(line + "\n" for line in keep))


class _Progress:
    """A rich progress bar with loss, accuracy and ETA on a terminal; plain periodic lines otherwise."""

    def __init__(self, total: int, done: int, enabled: bool, log: Callable[[str], None]):
        import sys

        self.total, self.log = total, log
        self.live = enabled and sys.stderr.isatty()
        self.enabled = enabled
        self.started, self.start_update = time.perf_counter(), done
        if self.live:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(
                TextColumn("update {task.completed}/{task.total}"),
                BarColumn(),
                TextColumn("loss {task.fields[loss]:.4f} acc {task.fields[acc]:.3f}"),
                TimeRemainingColumn(),
                transient=True,
            )
            self.task = self.progress.add_task("train", total=total, completed=done, loss=math.nan, acc=0.0)
            self.progress.start()

    def advance(self, update: int, loss: float, acc: float) -> None:
        self.last = (loss, acc)
        if self.live:
            self.progress.update(self.task, completed=update, loss=loss, acc=acc)

    def note(self, update: int, text: str) -> None:
        if not self.enabled:
            return
        rate = (update - self.start_update) / max(time.perf_counter() - self.started, 1e-9)
        eta = (self.total - update) / max(rate, 1e-9)
        line = f"update {update}/{self.total}  loss {self.last[0]:.4f}  {text}  eta {eta:.0f}s"
        if self.live:
            self.progress.console.print(line)
        else:
            self.log(line)

    def close(self) -> None:
        if self.live:
            self.progress.stop()
