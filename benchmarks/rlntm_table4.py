"""The RL-NTM's Table 4 (Zaremba & Sutskever 2015): which controller learns which task.

Trains each RL-NTM preset (task x controller) on several seeds, `--jobs` runs at a time (each on one
thread), until solved (curriculum at its top and greedy actions exact on at least 95% of 200 top-size
problems) or 20,000 updates. Prints one row per run (updates, wall time, accuracy at the top size and
at 2x and 5x it) and the paper's table: solved seeds per task and controller.

    python benchmarks/rlntm_table4.py                                   # direct access, all five tasks
    python benchmarks/rlntm_table4.py --controllers lstm --tasks copy,duplicated-input,reverse
    python benchmarks/rlntm_table4.py --tasks copy --seeds 0 --set train.updates=5000

Runs live in `--workdir`/PRESET-seedN; a finished run of the same preset and seed is reused and an
unfinished one resumes. Writes every run's figures and the summary to benchmarks/results/rlntm_table4.json
(see --out, --json).

    python benchmarks/rlntm_table4.py --quick      # one tiny Copy run: checks in seconds that it runs
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import common
import numpy as np
from common import CHECKPOINT_NAME, RLNTMPreset, checkpoint, evaluate, get_preset, reinforce, tape_task

PAPER = {  # Table 4: solved by the controller?
    ("copy", "lstm"): True,
    ("duplicated-input", "lstm"): True,
    ("reverse", "lstm"): False,
    ("forward-reverse", "lstm"): False,
    ("repeat-copy", "lstm"): False,
}

QUICK = {
    "tasks": "copy",
    "seeds": "0",
    "jobs": 1,
    "n": 5,
    "workdir": None,
    "set": ["train.updates=3", "train.batch_size=10", "train.top_size=3", "train.solve_problems=5"],
}


def train_one(job: tuple[str, list[str], int, str]) -> str:
    """Train (or reuse, or resume) one run; returns its checkpoint path. Runs in a worker process."""
    name, assignments, seed, workdir = job
    chosen = common.preset(name, [*assignments, f"train.seed={seed}"])
    assert isinstance(chosen, RLNTMPreset)
    out = Path(workdir) / f"{name}-seed{seed}"
    path = out / CHECKPOINT_NAME
    resume = False
    if path.exists():
        payload = checkpoint.load(path, kind="rlntm")
        if not common.same_preset(payload.get("preset"), chosen):
            raise SystemExit(f"{path} was trained with other settings; delete it or choose another --workdir")
        if payload.get("finished"):
            return str(path)
        resume = True
    common.info(f"training {name} seed {seed} into {out}")
    return str(reinforce.train(chosen, out, resume=resume, log=common.info, progress=True))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", default="copy,duplicated-input,reverse,repeat-copy,forward-reverse")
    parser.add_argument("--controllers", default="direct", help="comma-separated: direct, lstm")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--jobs", type=int, default=2, help="runs trained at once (one thread each)")
    parser.add_argument("--n", type=int, default=200, help="test problems per size")
    parser.add_argument("--workdir", default="runs/rlntm", help="runs live (and are reused) here")
    parser.add_argument("--set", action="append", default=[], metavar="[PRESET:]SECTION.FIELD=VALUE")
    parser.add_argument(
        "--report", action="store_true", help="train nothing: report the finished runs, list the others"
    )
    args = common.parse(parser, QUICK)
    with common.scratch(args.workdir) as workdir:
        table4(args, str(workdir))


def table4(args: argparse.Namespace, workdir: str) -> None:
    tasks = [tape_task(t).name for t in args.tasks.split(",")]
    controllers = args.controllers.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    names = [f"rlntm-{t}{'' if c == 'direct' else '-' + c}" for t in tasks for c in controllers]
    jobs = [(name, args.set, seed, workdir) for name in names for seed in seeds]
    # One run of the costliest task starts first; beside it the others go cheapest first, so that a
    # partial run of the benchmark has finished whole rows.
    cost = ["copy", "reverse", "duplicated-input", "repeat-copy", "forward-reverse"]
    jobs.sort(key=lambda job: next(i for i, t in enumerate(cost) if job[0].startswith(f"rlntm-{t}")))
    jobs.insert(0, jobs.pop(next(i for i, job in enumerate(jobs) if job[0] == jobs[-1][0])))
    if args.report:
        paths = [str(Path(job[3]) / f"{job[0]}-seed{job[2]}" / CHECKPOINT_NAME) for job in jobs]
    else:
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            paths = list(pool.map(train_one, jobs))

    rows, records, unfinished = [], [], []
    for (name, _, seed, _), path in zip(jobs, paths, strict=True):
        payload = checkpoint.load(path, kind="rlntm") if Path(path).exists() else None
        if payload is None or not payload.get("finished"):
            progress = (
                f"at update {payload['update']:,}, level {payload['curriculum']['level']}" if payload else ""
            )
            chosen = get_preset(name)
            assert isinstance(chosen, RLNTMPreset)
            status = f"unfinished {progress}".strip()
            unfinished.append(
                {
                    "preset": name,
                    "task": chosen.task,
                    "controller": chosen.model.controller,
                    "seed": seed,
                    "update": payload["update"] if payload else None,
                    "level": payload["curriculum"]["level"] if payload else None,
                }
            )
            rows.append([chosen.task, chosen.model.controller, str(seed), status, "", "", "", "", ""])
            continue
        model, task, _ = common.load(path)
        top = payload["preset"]["train"]["top_size"] or task.top_size
        sizes = [top, 2 * top, 5 * top]
        results = evaluate(model, task, sizes, args.n, seed=1000 + seed, batch=args.n)
        record = {
            "preset": name,
            "task": task.name,
            "controller": model.config.controller,
            "seed": seed,
            "solved": bool(payload["solved"]),
            "updates": payload["update"],
            "seconds": round(payload["elapsed"], 1),
            "level": payload["curriculum"]["level"],
            "accuracy": {r.size: r.accuracy for r in results},
        }
        records.append(record)
        rows.append(
            [
                task.name,
                record["controller"],
                str(seed),
                "yes" if record["solved"] else f"no (level {record['level']})",
                f"{record['updates']:,}",
                f"{record['seconds']:.0f}",
                *[f"{100 * r.accuracy:.1f}%" for r in results],
            ]
        )
    header = [
        "task",
        "controller",
        "seed",
        "solved",
        "updates",
        "seconds",
        "acc@top",
        "acc@2x top",
        "acc@5x top",
    ]
    print(common.table(header, rows))
    print()
    summary, solved_table = [], []
    for task_name in tasks:
        row = [task_name]
        for controller in controllers:
            runs = [r for r in records if r["task"] == task_name and r["controller"] == controller]
            if not runs:
                row.append("no finished run")
                continue
            solved = sum(r["solved"] for r in runs)
            paper = PAPER.get((task_name, controller), controller == "direct")
            updates = [r["updates"] for r in runs if r["solved"]]
            median = int(np.median(updates)) if updates else None
            text = f", median {median:,} updates" if median is not None else ""
            row.append(f"{solved}/{len(runs)} seeds{text} (paper: {'yes' if paper else 'no'})")
            solved_table.append(
                {
                    "task": task_name,
                    "controller": controller,
                    "solved": solved,
                    "runs": len(runs),
                    "median_updates_solved": median,
                    "paper_solved": paper,
                }
            )
        summary.append(row)
    print(common.table(["task", *controllers], summary))
    figures = {"runs": records, "unfinished": unfinished, "summary": solved_table}
    common.record(args, figures, presets={name: common.preset(name, args.set) for name in names})


if __name__ == "__main__":
    main()
