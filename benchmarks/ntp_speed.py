"""NTP speed: the batched tabletop world, training throughput and lockstep evaluation.

1. World: the expert's API calls for `--worlds` block-stacking trials, applied to all worlds at once
   (one batched call per step) and to one world after another (a Python loop over single worlds, no
   model in either): API calls per second of each, and their ratio.
2. Training: updates of `ntp-stacking` on `--tasks` tasks x 100 trials, call frames and steps per
   second (after a few warm-up updates).
3. Evaluation: a freshly initialised `ntp-stacking` model runs `--worlds` trials in lockstep to the
   end (it fails them, but takes every step: the interpreter's cost does not depend on skill).

    python benchmarks/ntp_speed.py            # figures into benchmarks/results/ntp_speed.json
    python benchmarks/ntp_speed.py --quick    # tiny sizes: checks in seconds that it runs
"""

from __future__ import annotations

import argparse
import time

import common
import numpy as np
import torch
from common import (
    MOVE,
    MOVE_DROP,
    MOVE_GRASP,
    NTP,
    batch_of,
    get_task,
    info,
    ntp_losses,
    ntp_model_config,
    record_traces,
    run_expert,
    run_ntp,
    to_frames,
    training_problems,
)

QUICK = {"worlds": 20, "tasks": 5, "updates": 3, "threads": 1}


def calls_of(task, problems) -> list[tuple[np.ndarray, np.ndarray]]:
    """The expert's API calls per step, as (api, object) arrays over the batch."""
    runs, _ = run_expert(task, problems)
    goals = [run.goals for run in runs]
    steps = []
    for g in range(max(len(x) for x in goals)):
        for api, index in ((MOVE, 0), (MOVE_GRASP, 0), (MOVE, 1), (MOVE_DROP, 1)):
            steps.append(
                (np.full(len(goals), api), np.array([x[g][index] if g < len(x) else 0 for x in goals]))
            )
    return steps


def world_speed(task, problems) -> dict:
    steps = calls_of(task, problems)
    n_goals = np.array([sum(len(t) - 1 for t in p["towers"]) for p in problems])
    calls = int(4 * n_goals.sum())
    started = time.perf_counter()
    world = task.world(problems)
    rows = np.arange(len(problems))
    for k, (api, arg) in enumerate(steps):
        active = rows[n_goals > k // 4]
        world.apply(active, api[active], arg[active])
    batched = time.perf_counter() - started
    started = time.perf_counter()
    for i, p in enumerate(problems):
        single = task.world([p])
        at = np.zeros(1, dtype=np.int64)
        for k, (api, arg) in enumerate(steps):
            if n_goals[i] > k // 4:
                single.apply(at, api[i : i + 1], arg[i : i + 1])
    one_by_one = time.perf_counter() - started
    assert task.outputs(world, problems) == [task.expected(p) for p in problems]
    return {
        "worlds": len(problems),
        "api_calls": calls,
        "batched_calls_per_s": round(calls / batched),
        "one_world_at_a_time_calls_per_s": round(calls / one_by_one),
        "ratio": round(one_by_one / batched, 1),
    }


def training_speed(task, preset, updates: int) -> dict:
    problems = training_problems(task, preset)
    started = time.perf_counter()
    data = to_frames(task, record_traces(task, problems))
    traces_seconds = time.perf_counter() - started
    torch.manual_seed(0)
    model = NTP(ntp_model_config(task, preset))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    frames = steps = 0
    for k in range(updates + 3):
        if k == 3:
            started, frames, steps = time.perf_counter(), 0, 0
        batch = batch_of(data, rng.integers(0, len(data), preset.train.batch_frames), torch.device("cpu"))
        loss, _, _ = ntp_losses(model, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        frames += preset.train.batch_frames
        steps += int(batch["valid"].sum())
    seconds = time.perf_counter() - started
    return {
        "trials": len(problems),
        "call_frames": len(data),
        "expert_traces_seconds": round(traces_seconds, 2),
        "updates": updates,
        "seconds_per_update": round(seconds / updates, 4),
        "frames_per_s": round(frames / seconds),
        "steps_per_s": round(steps / seconds),
    }


def eval_speed(task, preset, problems) -> dict:
    torch.manual_seed(0)
    model = NTP(ntp_model_config(task, preset))
    started = time.perf_counter()
    result = run_ntp(model, task, problems)
    seconds = time.perf_counter() - started
    return {
        "trials": len(problems),
        "seconds": round(seconds, 2),
        "model_steps": int(result.steps.sum()),
        "steps_per_s": round(int(result.steps.sum()) / seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--worlds", type=int, default=500, help="trials stepped together")
    parser.add_argument("--tasks", type=int, default=1000, help="training tasks (x 100 trials)")
    parser.add_argument("--updates", type=int, default=50, help="timed training updates")
    parser.add_argument("--threads", type=int, default=2)
    args = common.parse(parser, QUICK)
    torch.set_num_threads(args.threads)
    task = get_task("block-stacking")
    preset = common.preset("ntp-stacking", [f"data.train_tasks={args.tasks}"])
    problems = task.test_trials("unseen", 1000, args.worlds, seed=3)
    figures = {
        "world": world_speed(task, problems),
        "training": training_speed(task, preset, args.updates),
        "evaluation": eval_speed(task, preset, problems),
    }
    w, t, e = figures["world"], figures["training"], figures["evaluation"]
    print(
        common.table(
            ["what", "figure"],
            [
                ["world, batched", f"{w['batched_calls_per_s']:,} API calls/s ({w['worlds']} worlds)"],
                ["world, one at a time", f"{w['one_world_at_a_time_calls_per_s']:,} API calls/s"],
                ["batched / one at a time", f"{w['ratio']}x"],
                ["expert traces", f"{t['trials']:,} trials in {t['expert_traces_seconds']} s"],
                ["training", f"{t['frames_per_s']:,} call frames/s, {t['steps_per_s']:,} steps/s"],
                [
                    "evaluation",
                    f"{e['trials']} trials in {e['seconds']} s ({e['steps_per_s']:,} model steps/s)",
                ],
            ],
        )
    )
    info(f"threads: {args.threads}")
    common.record(args, figures)


if __name__ == "__main__":
    main()
