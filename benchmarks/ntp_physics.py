"""The tabletop in physics (MuJoCo): the expert, NTP models trained on kinematic traces, and video
demonstrations read back by the colour detector.

1. Expert: `--trials` block-stacking trials (unseen tasks) and as many order-fulfillment trials with 40
   objects (10 per category, unseen maps) run in physics: success, the failures by cause, toppled
   blocks, towers knocked over, seconds and simulated steps per second.
2. NTP in physics: `ntp-stacking` trained on 1,000 tasks and `ntp-ordering` (kinematic traces; the runs
   of benchmarks/ntp_figures.py are reused, or trained) evaluated on the same trials in the kinematic
   world, in physics with the simulator's positions, and in physics with demonstrations filmed and
   read back by the detector: seen, unseen and permuted stacking tasks, and 40-object orders.
3. Detector: the demonstrations of `--demos` problems of each task filmed (two 160 x 160 views, RGB and
   depth), the objects found again: position error (mean and worst, cm) against the simulator, for
   objects on the table or held and for the gripper; seconds of rendering and of detection per
   demonstration.

Every finished point is kept under --workdir/physics and reused, so an interrupted run resumes.

    python benchmarks/ntp_physics.py            # figures into benchmarks/results/ntp_physics.json
    python benchmarks/ntp_physics.py --quick    # tiny sizes: checks in seconds that it runs
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

import common
import numpy as np
from common import get_task, info, load, obtain

from neuralprog.envs.tabletop import physics
from neuralprog.envs.tabletop.experts import film, run_expert
from neuralprog.envs.tabletop.video import detect
from neuralprog.execute import check
from neuralprog.execute.ntp import run as run_ntp

SPLITS = ("seen", "unseen", "permuted")
MODES = {
    "kinematic": ("kinematic", False),
    "physics": ("mujoco", False),
    "physics+video": ("mujoco", True),
}
PER_CATEGORY = 10
QUICK = {
    "trials": 4,
    "demos": 2,
    "workdir": None,
    "set": ["train.updates=4", "data.trials_per_task=2", "train.validation_problems=2"],
}


def point(workdir: Path, name: str, compute) -> dict:
    """A result kept in the work directory and reused."""
    return common.kept(workdir / f"{name}.json", compute)


def problems_of(task, name: str, n: int) -> list[dict]:
    """The fixed trials of a stacking split (those of ntp_figures.py), or of 40-object orders."""
    if task.name == "block-stacking":
        return task.test_trials(name, 1000, n, seed=1)
    rng = np.random.default_rng(2018)
    return [task.sample(rng, PER_CATEGORY) for _ in range(n)]


def expert(task, problems: list[dict], batch: int) -> dict:
    """The expert in physics: success and failures by cause."""
    physical = task.using("mujoco")
    started = time.perf_counter()
    causes: Counter[str] = Counter()
    correct = toppled = knocked = steps = 0
    for lo in range(0, len(problems), batch):
        chunk = problems[lo : lo + batch]
        _, world = run_expert(physical, chunk)
        steps += world.sim_steps
        toppled += int(world.toppled.sum())
        knocked += int(world.knocked.sum())
        for row, (output, p) in enumerate(zip(physical.outputs(world, chunk), chunk, strict=True)):
            if world.failed[row]:
                causes[f"world failed: {world.reasons[row]}"] += 1
            elif output != physical.expected(p):
                causes["final state differs from the goal"] += 1
            else:
                correct += 1
    seconds = time.perf_counter() - started
    return {
        "n": len(problems),
        "correct": correct,
        "accuracy": correct / len(problems),
        "failures": dict(causes),
        "toppled_blocks": toppled,
        "knocked_towers": knocked,
        "seconds": round(seconds, 1),
        "sim_steps": steps,
        "sim_steps_per_second": round(steps / seconds),
    }


def evaluate(model, task, problems: list[dict], mode: str, batch: int) -> dict:
    """A model's success on fixed problems in one mode, with the physics counts."""
    backend, video = MODES[mode]
    task = task.using(backend, video)
    started = time.perf_counter()
    correct = halted = toppled = knocked = 0
    counts: Counter[str] = Counter()
    for lo in range(0, len(problems), batch):
        chunk = problems[lo : lo + batch]
        world = task.world(chunk)
        result = run_ntp(model, task, chunk, world=world)
        correct += int(check(task, chunk, result).sum())
        halted += int(result.halted.sum())
        toppled += int(world.toppled.sum())
        knocked += int(world.knocked.sum())
        counts.update({k: int(v.sum()) for k, v in result.counts.items()})
    return {
        "n": len(problems),
        "correct": correct,
        "accuracy": correct / len(problems),
        "halted": halted,
        **dict(counts),
        "toppled_blocks": toppled,
        "knocked_towers": knocked,
        "seconds": round(time.perf_counter() - started, 1),
    }


def detector(task, problems: list[dict]) -> dict:
    """Position errors of the detector over filmed demonstrations, and its time per demonstration."""
    physical = task.using("mujoco")
    truth: list[list[tuple[np.ndarray, np.ndarray, np.ndarray, int]]] = [[] for _ in problems]

    def keep(world, rows) -> None:
        for r in rows:
            n = int(world.n_objects[r])
            truth[r].append(
                (
                    world.positions[r, :n].copy(),
                    world.gripper[r].copy(),
                    world.inside[r, :n].copy(),
                    int(world.held[r]),
                )
            )

    run_expert(physical, problems, which=1, on_observe=keep)
    render_seconds = []
    original = physics.MujocoWorld.render

    def timed(self, *args, **kwargs):
        started = time.perf_counter()
        out = original(self, *args, **kwargs)
        render_seconds[-1] += time.perf_counter() - started
        return out

    physics.MujocoWorld.render = timed  # type: ignore[method-assign]
    videos = []
    try:
        for p in problems:
            render_seconds.append(0.0)
            videos.append(film(task, [p])[0])
    finally:
        physics.MujocoWorld.render = original  # type: ignore[method-assign]
    object_errors, gripper_errors, detect_seconds, hidden = [], [], [], 0
    for p, video, states in zip(problems, videos, truth, strict=True):
        layout = task.layout(p, 1)
        started = time.perf_counter()
        detections = detect(video, layout.containers, layout.category)
        detect_seconds.append(time.perf_counter() - started)
        for det, (positions, gripper, inside, _) in zip(detections, states, strict=True):
            shown = ~layout.containers & (inside < 0)  # objects in a container need not be seen
            error = np.linalg.norm(det.positions - positions, axis=1)[shown]
            hidden += int(np.isnan(error).sum())
            object_errors += error[~np.isnan(error)].tolist()
            gripper_errors.append(float(np.linalg.norm(det.gripper - gripper)))
    total = np.array(render_seconds) + np.array(detect_seconds)
    cm = 100.0
    return {
        "demonstrations": len(problems),
        "frames": int(sum(len(v.rgb) for v in videos)),
        "object_error_cm": {
            "mean": round(cm * float(np.mean(object_errors)), 3),
            "worst": round(cm * float(np.max(object_errors)), 3),
        },
        "gripper_error_cm": {
            "mean": round(cm * float(np.nanmean(gripper_errors)), 3),
            "worst": round(cm * float(np.nanmax(gripper_errors)), 3),
        },
        "objects_not_found": hidden,
        "render_seconds_per_demo": {
            "mean": round(float(np.mean(render_seconds)), 3),
            "worst": round(float(np.max(render_seconds)), 3),
        },
        "detect_seconds_per_demo": {
            "mean": round(float(np.mean(detect_seconds)), 3),
            "worst": round(float(np.max(detect_seconds)), 3),
        },
        "render_and_detect_seconds_per_demo": {
            "mean": round(float(total.mean()), 3),
            "worst": round(float(total.max()), 3),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=500, help="trials per set")
    parser.add_argument(
        "--demos", type=int, default=100, help="filmed demonstrations per task for the detector"
    )
    parser.add_argument("--batch", type=int, default=100, help="worlds in lockstep")
    parser.add_argument(
        "--workdir", default="runs/ntp-figures", help="runs of ntp_figures.py to reuse or train, and points"
    )
    parser.add_argument("--set", action="append", default=[], metavar="[PRESET:]SECTION.FIELD=VALUE")
    args = common.parse(parser, QUICK)
    stacking, ordering = get_task("block-stacking"), get_task("order-fulfillment")
    figures: dict = {"expert": {}, "ntp": [], "detector": {}}
    with common.scratch(args.workdir) as workdir:
        points = workdir / "physics"
        for task, split in ((stacking, "unseen"), (ordering, "objects40")):
            problems = problems_of(task, split, args.trials)
            figures["expert"][task.name] = r = point(
                points,
                f"expert-{task.name}-{args.trials}",
                lambda t=task, p=problems: expert(t, p, args.batch),
            )
            info(
                f"expert {task.name}: {100 * r['accuracy']:.1f}% in physics, {r['failures']}, {r['seconds']}s"
            )

        runs = {
            stacking: obtain(
                common.preset("ntp-stacking", ["data.train_tasks=1000", *args.set]),
                workdir / "fig5" / "ntp-stacking-tasks1000",
                info,
            ),
            ordering: obtain(
                common.preset("ntp-ordering", args.set), workdir / "fig6" / "ntp-ordering", info
            ),
        }
        for task, path in runs.items():
            model, _, _ = load(path)
            for split in SPLITS if task is stacking else ("objects40",):
                problems = problems_of(task, split, args.trials)
                for mode in MODES:
                    r = point(
                        points,
                        f"ntp-{task.name}-{split}-{mode}-{args.trials}",
                        lambda m=model, t=task, p=problems, mode=mode: evaluate(m, t, p, mode, args.batch),
                    )
                    figures["ntp"].append({"task": task.name, "split": split, "mode": mode, **r})
                    info(
                        f"NTP {task.name} {split:<9} {mode:<14} {100 * r['accuracy']:5.1f}%  {r['seconds']}s"
                    )

        for task in (stacking, ordering):
            problems = problems_of(task, "unseen", args.demos)
            figures["detector"][task.name] = point(
                points, f"detector-{task.name}-{args.demos}", lambda t=task, p=problems: detector(t, p)
            )
    rows = []
    for task_name, split in [(stacking.name, s) for s in SPLITS] + [(ordering.name, "objects40")]:
        cells = {r["mode"]: r for r in figures["ntp"] if r["task"] == task_name and r["split"] == split}
        rows.append(
            [task_name, split]
            + [f"{100 * cells[m]['accuracy']:.1f}%" for m in MODES]
            + [str(cells["physics"]["knocked_towers"])]
        )
    print(common.table(["task", "test set", *MODES, "towers knocked over (physics)"], rows))
    for name, r in figures["expert"].items():
        print(f"expert in physics, {name}: {100 * r['accuracy']:.1f}% of {r['n']}; failures {r['failures']}")
    for name, r in figures["detector"].items():
        print(
            f"detector, {name}: objects {r['object_error_cm']} cm, gripper {r['gripper_error_cm']} cm, "
            f"render + detect {r['render_and_detect_seconds_per_demo']} s per demonstration"
        )
    common.record(args, figures)


if __name__ == "__main__":
    main()
