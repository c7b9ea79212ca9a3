"""Supervised NPI training on oracle traces, batched across call frames.

Every call frame starts from a zero LSTM state, so a trace set is a bag of independent sequences. One
update draws a batch of frames (uniformly or by the adaptive curriculum), packs them into one
PackedSequence and runs the whole batch through the model at once. The run is readable top to bottom
in `train`: data, model, optimizer, then the loop with evaluation, checkpoints and early stopping.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from neuralprog import checkpoint
from neuralprog.execute import check, run
from neuralprog.execute.common import attach_images
from neuralprog.frames import FrameData, batch_loss, frame_accuracy, sample_distinct
from neuralprog.models.npi import NPI, NPIConfig
from neuralprog.presets import Preset, TrainConfig, validate
from neuralprog.registry import program_task
from neuralprog.tasks import Task
from neuralprog.traces import Trace, frames, generate, record
from neuralprog.train.common import (
    CHECKPOINT_NAME,
    MetricsLog,
    Progress,
    TrainingError,
    open_run,
    preset_json,
)
from neuralprog.train.curriculum import FrameSampler


def build_model(task: Task, preset: Preset, seed: int) -> NPI:
    torch.manual_seed(seed)
    images = tuple(spec.image for spec in task.obs_specs)
    config = NPIConfig(
        obs_sizes=task.env_obs_sizes,
        images=images if any(images) else (),
        n_programs=len(task.programs),
        arg_size=task.programs.arg_size,
        n_args=task.programs.n_args,
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
    tensorboard: bool = True,
) -> Path:
    """Train `preset` into `out_dir`; returns the path of the final checkpoint."""
    validate(preset)
    out_dir = Path(out_dir)
    ckpt_path = out_dir / CHECKPOINT_NAME
    task = program_task(preset.task)
    cfg = preset.train
    if cfg.repair_traces:
        try:
            task.verification_problems()
        except ValueError as e:
            raise TrainingError(f"train.repair_traces needs a task with a verification set: {e}") from None
    dev = torch.device(device)

    state = open_run(out_dir, preset_json(preset), task.name, "npi", resume)

    # Data: oracle traces (generated from the seed unless given), plus the counterexamples added so far
    # (see train.repair_traces), split into frames.
    if traces is None:
        data_config = preset.data
        traces = generate(
            task, data_config.sizes, data_config.per_size, cfg.seed, data_config.cover, data_config.per_task
        )
    max_size = max(task.size(t.problem) for t in traces)
    repairs: list[dict] = list(state.get("repairs", [])) if state is not None else []
    traces = traces + [record(task, p) for p in repairs]

    def frame_data() -> tuple[FrameData, FrameSampler]:
        """The frames of `traces` and a sampler over them."""
        data = FrameData([f for t in traces for f in frames(task, t)], dev)
        sampler = FrameSampler(
            data.program,
            cfg.curriculum,
            cfg.curriculum_temperature,
            cfg.curriculum_hard_fraction,
            data.length if cfg.curriculum_by_steps else None,
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
    attach_images(model, task)
    optimizer = torch.optim.AdamW(parameter_groups(model, cfg, len(traces) - len(repairs)), lr=cfg.lr)
    rng = np.random.default_rng([cfg.seed, 1])
    update, steps_streak, elapsed, best_accuracy = 0, 0, 0.0, 0.0
    suspects = np.zeros(0, dtype=np.int64)  # the distinct frames the last evaluation found wrong
    if state is not None:
        try:
            model.load_state_dict(state["model"])
        except RuntimeError:  # e.g. a run of `addition` from before its preset turned on model.layer_norm
            raise TrainingError(
                f"{ckpt_path} holds another network than preset {preset.name} builds now; "
                "train it in a new directory"
            ) from None
        try:
            optimizer.load_state_dict(state["optimizer"])
        except ValueError:  # e.g. a run from before weight decay spared the program memory
            raise TrainingError(
                f"{ckpt_path} holds the optimizer of an older version of this trainer; "
                "train it in a new directory"
            ) from None
        sampler.load_state(state["sampler"])
        rng.bit_generator.state = json.loads(state["rng"])
        update, elapsed = state["update"], state["elapsed"]
        steps_streak = state.get("steps_streak", 0)  # absent from checkpoints of 2026-12-02 and before
        suspects = np.asarray(state.get("suspects", []), dtype=np.int64)
        best_accuracy = state["best_accuracy"]
        log(f"resumed {ckpt_path} at update {update}")

    def save(finished: bool) -> Path:
        nonlocal elapsed
        elapsed = time.perf_counter() - started  # evaluations and verification included
        return checkpoint.save(
            ckpt_path,
            "npi",
            model,
            task.name,
            env=task.env_id,
            programs=task.programs.to_json(),
            preset=preset_json(preset),
            optimizer=optimizer.state_dict(),
            sampler=sampler.state(),
            rng=json.dumps(rng.bit_generator.state),
            update=update,
            steps_streak=steps_streak,
            suspects=suspects.tolist(),
            best_accuracy=best_accuracy,
            elapsed=elapsed,
            finished=finished,
            traces=len(traces),
            repairs=repairs,
            verified=verified,
        )

    model.train()
    metrics = MetricsLog(out_dir, update, tensorboard, log)
    bar = Progress(cfg.updates, update, enabled=progress, log=log)
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
                row = {"update": update, "train/loss": loss.item()}
                row["train/step_accuracy"] = correct.float().mean().item()
                bar.advance(update, loss=row["train/loss"], acc=row["train/step_accuracy"])

                val = None
                if update % cfg.eval_every == 0 or update == cfg.updates:
                    sample = evaluation_frames(data, cfg, update, suspects)
                    evaluation = frame_accuracy(model, data, distinct=sample)
                    if not evaluation.complete and evaluation.step_accuracy == 1.0:
                        # every frame, as stopping needs; a wrong one settles it (sort: 9 s in all)
                        evaluation = frame_accuracy(model, data, until_wrong=True)
                    accuracy, per_program = evaluation.step_accuracy, evaluation.per_program
                    suspects = np.unique(data.copy_of[evaluation.checked & ~evaluation.frame_ok])
                    if accuracy < best_accuracy:
                        _scale_lr(optimizer, cfg.lr_drop, floor=cfg.lr_min)
                    best_accuracy = max(best_accuracy, accuracy)
                    row["train/lr"] = optimizer.param_groups[0]["lr"]
                    sampler.update(~evaluation.frame_ok, evaluation.checked)
                    names = task.programs.names
                    row["eval/step_accuracy"] = accuracy
                    row.update({f"eval/step_accuracy/{names[p]}": a for p, a in per_program.items()})
                    # Running the validation problems (sort: 128 arrays of 20, thousands of steps each)
                    # only matters to stopping, so it waits for the evaluation that completes a streak
                    # of evaluations with every training step right.
                    steps_streak = steps_streak + 1 if accuracy == 1.0 else 0
                    if steps_streak >= max(cfg.stop_after_perfect, 1) or update == cfg.updates:
                        val = float(np.mean(check(task, validation, run(model, task, validation))))
                        model.train()
                        row[f"eval/validation_accuracy@{max_size}"] = val
                    shown = "-" if val is None else f"{val:.3f}"
                    bar.note(
                        update,
                        f"steps {accuracy:.4f}  validation@{max_size} {shown}  " + _worst(per_program, names),
                    )
                row["time"] = round(time.perf_counter() - started, 3)
                metrics.write(row)
                validated = steps_streak >= cfg.stop_after_perfect and val == 1.0
                lacking = len(repairs) < cfg.repair_traces and steps_streak >= 3 * cfg.stop_after_perfect
                stop = cfg.stop_after_perfect and (validated or lacking)
                if update % cfg.checkpoint_every == 0 and not stop:
                    metrics.flush()
                    save(finished=False)
                if stop:
                    what = "every validation problem right then" if validated else "some validation wrong"
                    log(f"every training step right {steps_streak} evaluations in a row, {what}")
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
            steps_streak, best_accuracy, suspects = 0, 0.0, suspects[:0]
            log(f"not verified: {len(counterexamples)} counterexamples added, {len(traces)} traces in all")
            save(finished=False)
    finally:
        metrics.close()
        bar.close()
    path = save(finished=True)
    log(f"trained {update} updates in {elapsed:.1f}s")
    return path


def evaluation_frames(
    data: FrameData, cfg: TrainConfig, update: int, suspects: np.ndarray
) -> np.ndarray | None:
    """The distinct frames the evaluation after `update` runs (None: all, as the last one does): a share
    of each program's, drawn as a function of the update so that a resumed run checks the same, and the
    `suspects`, the frames the last evaluation found wrong. Those are the likeliest to be wrong still;
    without them a sample that misses them passes, and the check of every frame that follows fails
    (sort: 9 s at 2 threads, at most evaluations between the first all-right sample and the stop)."""
    if cfg.eval_share >= 1.0 or update == cfg.updates:
        return None
    share = sample_distinct(data, cfg.eval_share, np.random.default_rng([cfg.seed, 3, update]))
    return np.union1d(share, suspects)


def parameter_groups(model: NPI, cfg: TrainConfig, traces: int) -> list[dict]:
    """AdamW's parameter groups for a training set of `traces` traces (the counterexamples added later
    not counted, so that a resumed run decays as it did). Weight decay applies to every weight but the
    program memory (embeddings and keys): decaying those too let what a step observes outweigh which
    program runs; from 8 arrays of 20, a sort model then began BUBBLE with RSHIFT's first move when both
    pointers read 3 (seed 5 sorted 51% of fresh arrays; 100% with the memory left alone). Decaying only
    the weight matrices, not biases and LayerNorm gains either, lost seeds 0 and 3 (89% and 98%). A CNN
    image encoder learns at its own, lower rate: at the core's, its features grew fast (cars: mean 0.02
    to 1.0) and saturated the core, whose step accuracy then stayed at 0.41 for 300 to 600 updates."""
    images = list(model.image_encoders.parameters())
    memory = [model.program_embedding, model.program_keys]
    apart = {id(p) for p in images + memory}
    decay = cfg.weight_decay
    if cfg.weight_decay_traces:
        decay *= math.sqrt(cfg.weight_decay_traces / traces)
    groups: list[dict] = [
        {"params": [p for p in model.parameters() if id(p) not in apart], "weight_decay": decay},
        {"params": memory, "weight_decay": 0.0},
    ]
    if images:
        groups.append({"params": images, "weight_decay": decay, "lr": cfg.image_lr})
    return groups


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


def _worst(per_program: dict[int, float], names: list[str]) -> str:
    worst = sorted(per_program.items(), key=lambda kv: kv[1])[:2]
    return " ".join(f"{names[p]} {a:.3f}" for p, a in worst)
