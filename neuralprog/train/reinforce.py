"""REINFORCE training of the RL-NTM (Zaremba & Sutskever 2015), readable top to bottom in `train`.

Objective: J = E over action sequences of sum_t r_t, where r_t = log p(target) when the output head
advances at t and 0 otherwise. Its gradient has two parts: backprop through r_t (what to predict and
write), and REINFORCE for the head moves, sum_t grad log p(a_t) * (R_t - b_t), with three variance
reductions that can each be switched off for ablations:
1. future rewards: R_t sums the rewards from t on (off: the whole episode's return);
2. an online baseline: a running mean of R_t at each time step t;
3. an offline baseline: the `Baseline` LSTM's prediction of what remains, trained on (R_t - b_t)^2.
Both baselines depend only on what came before a_t, so they leave the gradient unbiased in expectation
(the exact gradient checker, `neuralprog.train.gradcheck`, verifies it with all three on). An optional
entropy bonus (`train.entropy_bonus`, not in the paper) adds the head-move choices' entropy to J.

An update samples a batch of problems from the curriculum, plays every episode in lockstep without
autograd (`rollout`), recomputes the controller's outputs along them with autograd (`score`), and takes
one SGD step for the controller and one for the baseline network, each with its own gradient clip.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from neuralprog import checkpoint
from neuralprog.envs.tapes import TapeBatch, TapeTask
from neuralprog.execute import check
from neuralprog.execute.rlntm import run
from neuralprog.models.rlntm import (
    RLNTM,
    Baseline,
    Chooser,
    Episodes,
    RLNTMConfig,
    Scores,
    rollout,
    score,
)
from neuralprog.presets import RLNTMPreset, RLNTMTrainConfig, validate
from neuralprog.registry import tape_task
from neuralprog.traces import Trace
from neuralprog.train.common import CHECKPOINT_NAME, MetricsLog, Progress, TrainingError, open_run
from neuralprog.train.curriculum import LengthCurriculum
from neuralprog.train.offline_baseline import BaselineFitter, OfflineBaseline

ONLINE_STEPS = 4096
"""Time steps the online baseline keeps a mean for (longer episodes share the last one)."""


class OnlineBaseline:
    """Variance reduction 2: a running mean of the future reward R_t at each time step t."""

    def __init__(self, decay: float, device: torch.device):
        self.decay = decay
        """Weight of the old mean in each update."""
        self.mean = torch.zeros(ONLINE_STEPS, device=device)

    def values(self, steps: int) -> torch.Tensor:
        """(steps,) the baseline of each time step."""
        if steps <= ONLINE_STEPS:
            return self.mean[:steps].clone()
        return torch.cat([self.mean, self.mean[-1:].expand(steps - ONLINE_STEPS)])

    @torch.no_grad()
    def update(self, future: torch.Tensor, live: torch.Tensor) -> None:
        """Fold in a batch's (T, B) future rewards, over the episodes live at each step."""
        live = live.float()
        mean = (future * live).sum(1) / live.sum(1).clamp(min=1)
        n = min(len(mean), ONLINE_STEPS)
        new = self.decay * self.mean[:n] + (1 - self.decay) * mean[:n]
        self.mean[:n] = torch.where(live[:n].sum(1) > 0, new, self.mean[:n])


def sampler(generator: torch.Generator, block: int = 32) -> Chooser:
    """Sample every action from its distribution: Gumbel-max on the masked logits, with the noise drawn
    `block` steps at a time."""
    noise: list[torch.Tensor] = []

    def choose(logits: torch.Tensor, step: int) -> tuple[None, torch.Tensor]:
        if step % block == 0 or noise[0].shape[1:] != logits.shape:
            shape = (block, *logits.shape)
            u = torch.rand(shape, generator=generator, device=logits.device, dtype=logits.dtype)
            noise[:] = [-torch.log(-torch.log(u))]
        return None, (logits + noise[0][step % block]).argmax(-1)

    return choose


def returns(rewards: torch.Tensor, future_rewards: bool) -> torch.Tensor:
    """(T, B) rewards -> (T, B) R_t: the rewards from t on, or with `future_rewards` off the whole return."""
    if future_rewards:
        return rewards.flip(0).cumsum(0).flip(0)
    return rewards.sum(0, keepdim=True).expand_as(rewards)


def surrogate(
    rewards: torch.Tensor,
    logp: torch.Tensor,
    future: torch.Tensor,
    baseline: torch.Tensor,
    live: torch.Tensor,
) -> torch.Tensor:
    """(B,) per episode, sum_t r_t + log p(a_t) * (R_t - b_t) over the live steps, with R and b held
    constant: its gradient is the REINFORCE estimate of grad J for that episode. (T, B) each: the
    rewards and the log-probabilities of the actions taken (`Scores`, with autograd), the returns R
    (`returns`) and a baseline that must not depend on a_t."""
    return (rewards + logp * ((future - baseline) * live).detach()).sum(0)


def loss01(episodes: Episodes, scores: Scores) -> torch.Tensor:
    """(B,) wrong symbols emitted over target length: the curriculum's measure."""
    wrong = episodes.advance & (scores.prediction_logits.argmax(-1) != episodes.target)
    return wrong.sum(0) / episodes.tapes.target_length


def _diverged(update: int, ckpt_path: Path) -> TrainingError:
    return TrainingError(
        f"non-finite loss at update {update}; stopped. The last good checkpoint is {ckpt_path} "
        "(try a lower train.lr)"
    )


def model_config(task: TapeTask, preset: RLNTMPreset) -> RLNTMConfig:
    return RLNTMConfig(
        **asdict(preset.model),
        memory=task.memory,
        input_backward=task.input_backward,
        vocab=task.vocab,
        read_vocab=task.read_vocab,
    )


def train(
    preset: RLNTMPreset,
    out_dir: str | Path,
    resume: bool = False,
    device: str = "cpu",
    traces: list[Trace] | None = None,
    log: Callable[[str], None] = print,
    progress: bool = True,
    tensorboard: bool = True,
) -> Path:
    """Train `preset` into `out_dir`; returns the path of the final checkpoint. Stops when the task is
    solved: curriculum at its top level and greedy actions exact on `solve_accuracy` of
    `solve_problems` random top-size problems."""
    if traces is not None:
        raise TrainingError(f"{preset.name} is an RL-NTM preset: it learns from rewards, not from traces")
    validate(preset)
    cfg: RLNTMTrainConfig = preset.train
    threads = torch.get_num_threads()
    torch.set_num_threads(max(cfg.threads - 1, 1))
    try:
        return _train(preset, Path(out_dir), resume, device, log, progress, tensorboard)
    finally:
        torch.set_num_threads(threads)


def _train(
    preset: RLNTMPreset,
    out_dir: Path,
    resume: bool,
    device: str,
    log: Callable[[str], None],
    progress: bool,
    tensorboard: bool,
) -> Path:
    ckpt_path = out_dir / CHECKPOINT_NAME
    task = tape_task(preset.task)
    cfg = preset.train
    dev = torch.device(device)
    preset_json = json.loads(json.dumps(asdict(preset)))

    # Model, baseline network, optimizers, curriculum, random streams; restored when resuming. (Built
    # before the run directory is opened: a config the model rejects leaves nothing behind.)
    torch.manual_seed(cfg.seed)
    config = model_config(task, preset)
    model = RLNTM(config).to(dev)
    fitter = BaselineFitter(Baseline(config).to(dev), cfg.lr, cfg.momentum, cfg.clip_baseline)
    state = open_run(out_dir, preset_json, task.name, "rlntm", resume)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum)
    top = cfg.top_size or task.top_size
    curriculum = LengthCurriculum(
        top, cfg.curriculum_start, cfg.promote_below, cfg.refractory, cfg.curriculum
    )
    rng = np.random.default_rng([cfg.seed, 1])
    generator = torch.Generator(device=dev).manual_seed(cfg.seed)
    online = OnlineBaseline(cfg.online_decay, dev)
    update, elapsed, solved, accuracy = 0, 0.0, False, 0.0
    if state is not None:
        model.load_state_dict(state["model"])
        fitter.load_state(state)
        optimizer.load_state_dict(state["optimizer"])
        curriculum.load_state(state["curriculum"])
        rng.bit_generator.state = json.loads(state["rng"])
        generator.set_state(state["generator"])
        online.mean = state["online_baseline"].to(dev)
        update, elapsed = state["update"], state["elapsed"]
        solved, accuracy = state["solved"], state["accuracy"]
        log(f"resumed {ckpt_path} at update {update}, curriculum level {curriculum.level}")
    else:
        log(f"task {task.name} (top size {top}), {config.controller} controller, preset {preset.name}")

    def save(finished: bool) -> Path:
        nonlocal elapsed
        elapsed = time.perf_counter() - started  # the solve checks included, the last one too
        return checkpoint.save(
            ckpt_path,
            "rlntm",
            model,
            task.name,
            env=task.env_id,
            preset=preset_json,
            **baseline.state(),
            optimizer=optimizer.state_dict(),
            curriculum=curriculum.state(),
            rng=json.dumps(rng.bit_generator.state),
            generator=generator.get_state(),
            online_baseline=online.mean.cpu(),
            update=update,
            elapsed=elapsed,
            solved=solved,
            accuracy=accuracy,
            finished=finished,
        )

    choose = sampler(generator)
    metrics = MetricsLog(out_dir, update, tensorboard, log)
    bar = Progress(cfg.updates, update, enabled=progress, log=log)
    # With a core to spare, the baseline network runs in a process of its own, beside the controller.
    baseline = OfflineBaseline(fitter, process=cfg.threads > 1 and cfg.offline_baseline)
    started = time.perf_counter() - elapsed
    try:
        while update < cfg.updates and not solved:
            # Play a batch of episodes, then score them with autograd.
            sizes = curriculum.sizes(rng, cfg.batch_size)
            tapes = TapeBatch(task, task.sample_arrays(rng, sizes), config.window, config.cell_size, dev)
            if cfg.offline_baseline:  # it reads the tapes first: while the episodes are played
                baseline.read_tape(Baseline.tape(tapes))
            episodes = rollout(model, tapes, choose)
            if cfg.offline_baseline:  # and then what the controller read, from the rollout's record
                baseline.predict(episodes.read_rows, Baseline.memory_reads(episodes))
            optimizer.zero_grad(set_to_none=True)
            scores = score(model, episodes)
            rewards = scores.rewards(episodes)  # (T, B), with autograd
            logp = scores.log_probs(episodes).sum(-1)  # (T, B)
            future = returns(rewards.detach(), cfg.future_rewards)  # (T, B) R_t
            T = episodes.steps
            b = online.values(T)[:, None] * cfg.online_baseline  # (T, B)
            batch_loss01 = float(loss01(episodes, scores).mean())
            if cfg.offline_baseline:  # (what does not need it is done: the network may still be at work)
                prediction = baseline.prediction()  # (T, B)
                baseline.fit(future - b, episodes.live)
                b = b + prediction
            objective = surrogate(rewards, logp, future, b, episodes.live).sum()
            if cfg.entropy_bonus:
                objective = objective + cfg.entropy_bonus * scores.entropy(episodes).sum()
            loss = -objective / cfg.batch_size
            if not torch.isfinite(loss):
                raise _diverged(update + 1, ckpt_path)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_controller)
            optimizer.step()
            online.update(future, episodes.live)
            update += 1
            # The baseline network's step, waited for as late as possible (it may run beside): a
            # non-finite loss stops the run here, with nothing of this update saved.
            baseline_loss = baseline.fitted() if cfg.offline_baseline else torch.zeros((), device=dev)
            if not torch.isfinite(baseline_loss):
                raise _diverged(update, ckpt_path)

            # Curriculum, metrics, the solved check, checkpoints.
            level = curriculum.level
            if curriculum.observe(update, batch_loss01):
                bar.note(
                    update, f"curriculum level {level} -> {curriculum.level} (0-1 loss {batch_loss01:.3f})"
                )
            reward = float(rewards.detach().sum() / cfg.batch_size)
            row = {
                "update": update,
                "train/reward": reward,
                "train/loss01": batch_loss01,
                "train/level": curriculum.level,
                "train/grad_norm": float(grad_norm),
                "train/baseline_loss": float(baseline_loss.detach()),
                "train/steps": T,
            }
            bar.advance(update, loss=-reward, acc=1 - batch_loss01)
            if update % cfg.eval_every == 0 and not curriculum.at_top:
                bar.note(update, f"level {curriculum.level}  0-1 loss {batch_loss01:.3f}  steps {T}")
            if curriculum.at_top and update % cfg.eval_every == 0:
                eval_rng = np.random.default_rng([cfg.seed, 2, update])
                problems = task.problems(*task.sample_arrays(eval_rng, np.full(cfg.solve_problems, top)))
                accuracy = float(np.mean(check(task, problems, run(model, task, problems))))
                solved = accuracy >= cfg.solve_accuracy
                row[f"eval/accuracy@{top}"] = accuracy
                bar.note(update, f"level {curriculum.level}  greedy exact@{top} {accuracy:.3f}")
            row["time"] = round(time.perf_counter() - started, 4)  # after the solve check
            metrics.write(row)
            if update % cfg.checkpoint_every == 0 and not solved:
                metrics.flush()
                save(finished=False)
        path = save(finished=True)
    finally:
        metrics.close()
        bar.close()
        baseline.close()
    verdict = "solved" if solved else f"not solved (curriculum level {curriculum.level} of {top})"
    log(f"{verdict} after {update} updates in {elapsed:.1f}s")
    return path
