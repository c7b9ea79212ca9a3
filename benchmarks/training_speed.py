"""Training speed over seeds: how many updates and seconds each preset takes to stop, on every seed, and
whether what it stopped with is right at the preset's test sizes (issue 21).

Each preset below trains over its seeds as one sweep (`neuralprog.sweep`, a local Ray instance), one
trial at a time on --threads threads so that the seconds are those of a quiet machine. A row per preset:
runs that stopped perfect (VERIFIED for the recursive presets, solved for the RL-NTM), median and worst
updates and seconds to stop (the training loop's: evaluations and verification included, trace
generation not), the median seconds of a whole trial (traces, training and the held-out test), and the
worst held-out accuracy at each test size.

    python benchmarks/training_speed.py                          # every preset of PLAN
    python benchmarks/training_speed.py --preset addition --preset sort
    python benchmarks/training_speed.py --quick                  # tiny sizes: checks that it runs

Finished trials are kept in --workdir/PRESET and reused while the preset is unchanged (the sweep trains
a trial kept from other settings again), so an interrupted run resumes. Writes the rows to
benchmarks/results/training_speed.json, merged with the rows of presets not run this time.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import common
from common import info, table

PLAN: dict[str, dict] = {
    "addition": {"seeds": 5, "sizes": [1000], "n": 100},
    "sort": {"seeds": 5, "sizes": [60], "n": 100},
    "sort-n8": {
        "preset": "sort",
        "seeds": 5,
        "sizes": [20],
        "n": 100,
        "set": ["data.sizes=20", "data.per_size=8", "train.updates=1000"],
    },
    "addition-recursive": {"seeds": 5, "sizes": [100], "n": 100},
    "sort-recursive": {"seeds": 5, "sizes": [20], "n": 100},
    "rlntm-copy": {"seeds": 3, "sizes": [20, 100], "n": 200},
    "rlntm-copy-fast": {"seeds": 3, "sizes": [20, 100], "n": 200},
    "rlntm-reverse-fast": {"seeds": 3, "sizes": [20, 100], "n": 200},
    "rlntm-forward-reverse-fast": {"seeds": 3, "sizes": [20, 100], "n": 200},
    "rlntm-duplicated-input-fast": {"seeds": 3, "sizes": [20, 100], "n": 200},
    "rlntm-repeat-copy-fast": {"seeds": 3, "sizes": [8, 20], "n": 200},
    "rlntm-reverse": {"seeds": 3, "sizes": [20, 100], "n": 200},
    "rlntm-forward-reverse": {"seeds": 3, "sizes": [20, 100], "n": 200},
    "rlntm-duplicated-input": {"seeds": 3, "sizes": [20, 100], "n": 200},
    "rlntm-repeat-copy": {"seeds": 3, "sizes": [8, 20], "n": 200},
}
"""Row name -> preset (the name unless given), seeds 0..N-1, test sizes, test problems per size and
overrides. `sort-n8` is the sample-complexity setting: 8 training arrays of length 20."""

BEFORE = {
    "addition": "550 to 1,150 updates, 79 to 287 s (1 thread, 2026-12-05)",
    "sort": "800 to 1,200 updates (2026-12-05)",
    "sort-n8": "seed 0: 100% in 600 updates; seed 4: 91% at the 1,000-update cap (2026-12-05)",
    "rlntm-copy": "median 3,000 updates",
    "rlntm-copy-fast": "rlntm-copy (the paper's settings): 3,200 / 3,200 / 3,300 updates (rlntm_table4.json)",
    "rlntm-reverse-fast": "rlntm-reverse: 10,700 / 12,500 / 10,200 updates (docs/rlntm.md, 2026-12-06)",
    "rlntm-forward-reverse-fast": "rlntm-forward-reverse: 3,100 / 2,600 / 6,400 updates (docs/rlntm.md)",
    "rlntm-duplicated-input-fast": "rlntm-duplicated-input: 5,400 / 18,600 / unsolved (docs/rlntm.md)",
    "rlntm-repeat-copy-fast": "rlntm-repeat-copy: 1,400 / 1,100 updates / unsolved (docs/rlntm.md)",
    "rlntm-reverse": "median 10,800 updates",
    "rlntm-forward-reverse": "median 3,100 updates",
    "rlntm-duplicated-input": "5,400 to 18,600 updates, or unsolved",
}
"""What the issue measured before this recipe, for the record."""

QUICK = {
    "preset": ["addition", "rlntm-copy"],
    "seeds": 2,
    "threads": 1,
    "set": [
        "addition:data.sizes=1,2",
        "addition:data.per_size=4",
        "addition:train.updates=3",
        "addition:train.validation_problems=2",
        "rlntm-copy:train.updates=3",
        "rlntm-copy:train.batch_size=4",
    ],
    "n": 4,
    "workdir": None,
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", action="append", choices=list(PLAN), help="row to run (repeatable)")
    parser.add_argument("--seeds", type=int, help="seeds 0..N-1 (default: the plan's, 5 or 3)")
    parser.add_argument("--n", type=int, help="test problems per size (default: the plan's)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of each trial")
    parser.add_argument("--set", action="append", default=[], help="ROW:SECTION.FIELD=VALUE override")
    parser.add_argument(
        "--workdir", type=Path, default=Path("runs/training-speed"), help="finished trials are kept here"
    )
    args = common.parse(parser, QUICK)
    names = args.preset or list(PLAN)
    previous = _previous_rows(args.json) if not args.quick else {}
    rows = {}
    with common.scratch(args.workdir) as workdir:
        for name in names:
            plan = dict(PLAN[name])
            plan["set"] = plan.get("set", []) + [
                s.split(":", 1)[1] for s in args.set if s.startswith(name + ":")
            ]
            rows[name] = run_row(name, plan, workdir, args)
            print(_table([rows[name]]), flush=True)
    rows = {**previous, **rows}
    ordered = [rows[name] for name in PLAN if name in rows]
    print(_table(ordered))
    common.record(args, {"rows": ordered, "before": BEFORE})


def run_row(name: str, plan: dict, workdir: Path, args: argparse.Namespace) -> dict:
    """Train one row's seeds as a sweep (finished trials kept) and summarize them."""
    preset_name = plan.get("preset", name)
    seeds = tuple(range(args.seeds or plan["seeds"]))
    spec = common.SweepSpec(
        name=name,
        presets=(preset_name,),
        seeds=seeds,
        fixed=tuple(plan.get("set", [])),
        eval=common.EvalSpec(sizes=tuple(plan["sizes"]), n=args.n or plan["n"], seed=1000),
        cpus_per_trial=args.threads,
        retries=0,
        out=workdir / name,
    )
    info(f"{name}: {len(seeds)} seeds of {preset_name} {' '.join(plan.get('set', []))}")
    trials = common.run_sweep(spec, cpus=args.threads, log=info)
    runs = []
    for trial in trials:
        run = {"seed": trial["seed"], "status": trial["status"]}
        if trial["status"] == "ok":
            run |= {k: trial[k] for k in ("updates", "train_seconds", "seconds") if k in trial}
            run |= {k: trial[k] for k in ("solved", "verified") if k in trial}
            run["accuracy"] = {k.split("@")[1]: v for k, v in trial.items() if k.startswith("accuracy@")}
        else:
            run["error"] = trial.get("error")
        runs.append(run)
    return summarize(name, preset_name, spec, runs)


def summarize(name: str, preset_name: str, spec: common.SweepSpec, runs: list[dict]) -> dict:
    ok = [r for r in runs if r["status"] == "ok"]
    updates = [r["updates"] for r in ok]
    seconds = [r["train_seconds"] for r in ok]
    sizes = [str(s) for s in spec.eval.sizes]

    def perfect(run: dict) -> bool:
        """RL-NTM: solved (the paper's criterion); NPI: verified where it verifies, and every test right."""
        if "solved" in run:
            return bool(run["solved"])
        return run.get("verified", True) and all(run["accuracy"].get(s) == 1.0 for s in sizes)

    return {
        "row": name,
        "preset": preset_name,
        "overrides": list(spec.fixed),
        "seeds": len(runs),
        "perfect": sum(map(perfect, ok)),
        "median_updates": statistics.median(updates) if updates else None,
        "worst_updates": max(updates, default=None),
        "median_seconds": round(statistics.median(seconds), 1) if seconds else None,
        "worst_seconds": round(max(seconds), 1) if seconds else None,
        "median_wall_seconds": round(statistics.median(r["seconds"] for r in ok), 1) if ok else None,
        "worst_accuracy": {s: min((r["accuracy"].get(s, 0.0) for r in ok), default=None) for s in sizes},
        "runs": runs,
    }


def _previous_rows(path: Path) -> dict:
    try:
        return {row["row"]: row for row in json.loads(path.read_text())["figures"]["rows"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _table(rows: list[dict]) -> str:
    header = ["row", "perfect", "updates (median / worst)", "seconds (median / worst)", "worst accuracy"]
    lines = []
    for row in rows:
        accuracy = " ".join(f"@{s} {a:.2f}" for s, a in row["worst_accuracy"].items() if a is not None)
        lines.append(
            [
                row["row"],
                f"{row['perfect']}/{row['seeds']}",
                f"{row['median_updates']} / {row['worst_updates']}",
                f"{row['median_seconds']} / {row['worst_seconds']}",
                accuracy,
            ]
        )
    return table(header, lines)


if __name__ == "__main__":
    main()
