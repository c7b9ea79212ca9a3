"""Sweeps on Ray (`neuralprog sweep`): what the mechanism costs, and that it reproduces a benchmark.

1. Overhead: 8 short trainings (addition-tiny, 2 seeds x 4 learning rates --lrs, --updates each, then
   scored on 100 problems of 10 digits), once by hand, two `neuralprog train` + `neuralprog eval` chains
   at a time with one torch thread each (OMP_NUM_THREADS=1, as each trial has), and once as one
   `neuralprog sweep` on a local Ray instance of 2 CPUs (Ray's start included). Acceptance: the sweep
   takes at most 1.2x the time by hand.
2. Table 4: benchmarks/sweeps/rlntm_table4.toml (Copy and Reverse, direct access, seeds 0-2) as one sweep,
   compared run by run with benchmarks/results/rlntm_table4.json (`python benchmarks/rlntm_table4.py
   --tasks copy,reverse`): the same seed must solve in the same number of updates, with the same
   accuracy. The sweep directory (--workdir) keeps finished trials, so a rerun only reports.

    python benchmarks/sweeps.py [--workdir runs/sweeps] [--no-table4]
    python benchmarks/sweeps.py --quick     # tiny sizes: checks in seconds that it runs

Writes the figures to benchmarks/results/sweeps.json (see --out, --json).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import common

ROOT = Path(__file__).resolve().parent
CLI = [sys.executable, "-m", "neuralprog"]
SEEDS = (0, 1)

QUICK = {"lrs": "1e-3", "updates": 5, "eval_n": 4, "table4": False, "workdir": None}


def by_hand(workdir: Path, lrs: list[str], updates: int, eval_n: int) -> float:
    """Seconds for the trainings as a person runs them: two train-then-eval chains at a time."""

    one_thread = {**os.environ, "OMP_NUM_THREADS": "1"}  # as a trial runs (two 2-thread runs thrash 2 cores)

    def chain(job: tuple[str, int]) -> None:
        lr, seed = job
        out = workdir / f"hand-lr{lr}-seed{seed}"
        train = [*CLI, "train", "addition-tiny", "--out", str(out), "--seed", str(seed)]
        train += ["--set", f"train.lr={lr}", "--set", f"train.updates={updates}"]
        subprocess.run(train, check=True, capture_output=True, env=one_thread)
        evaluate = [*CLI, "eval", str(out / "checkpoint.pt"), "--lengths", "10", "--n", str(eval_n)]
        subprocess.run(
            [*evaluate, "--seed", str(1000 + seed)], check=True, capture_output=True, env=one_thread
        )

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(chain, [(lr, seed) for lr in lrs for seed in SEEDS]))
    return time.perf_counter() - started


def as_sweep(workdir: Path, lrs: list[str], updates: int, eval_n: int) -> float:
    """Seconds for the same trainings as one sweep on a local Ray instance of 2 CPUs."""
    command = [*CLI, "sweep", "--presets", "addition-tiny", "--seeds", ",".join(map(str, SEEDS))]
    command += ["--grid", f"train.lr={','.join(lrs)}", "--set", f"train.updates={updates}"]
    command += ["--eval-sizes", "10", "--eval-n", str(eval_n), "--cpus", "2", "--out", str(workdir / "sweep")]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def table4(workdir: Path) -> dict:
    """Run the Table 4 spec as a sweep (finished trials are kept) and compare it with the benchmark."""
    out = workdir / "rlntm-table4"
    spec = ROOT / "sweeps" / "rlntm_table4.toml"
    started = time.perf_counter()
    subprocess.run([*CLI, "sweep", str(spec), "--out", str(out), "--cpus", "2"], check=True)
    seconds = time.perf_counter() - started
    rows = json.loads((out / "results.json").read_text())["trials"]
    reference_path = common.RESULTS / "rlntm_table4.json"
    reference = json.loads(reference_path.read_text())["figures"]["runs"] if reference_path.exists() else []
    compared = []
    for row in rows:
        match = next(
            (r for r in reference if r["preset"] == row["preset"] and r["seed"] == row["seed"]), None
        )
        sweep_accuracy = {k.split("@")[1]: v for k, v in row.items() if k.startswith("accuracy@")}
        entry = {
            "preset": row["preset"],
            "seed": row["seed"],
            "sweep": {"solved": row.get("solved"), "updates": row.get("updates"), "accuracy": sweep_accuracy},
        }
        if match is not None:
            entry["benchmark"] = {
                "solved": match["solved"],
                "updates": match["updates"],
                "accuracy": {str(k): v for k, v in match["accuracy"].items()},
            }
            entry["same"] = entry["sweep"] == entry["benchmark"]
        compared.append(entry)
        common.info(f"{row['preset']} seed {row['seed']}: {entry}")
    return {
        "seconds": round(seconds, 1),
        "runs": compared,
        "reference": str(reference_path.relative_to(ROOT.parent)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--lrs", default="1e-3,2e-3,5e-4,3e-3", help="learning rates of the overhead trainings"
    )
    parser.add_argument("--updates", type=int, default=150, help="updates of each overhead training")
    parser.add_argument("--eval-n", type=int, default=100, help="test problems of each overhead training")
    parser.add_argument("--no-table4", dest="table4", action="store_false", help="measure the overhead only")
    parser.add_argument(
        "--workdir", type=Path, default=Path("runs/sweeps"), help="the Table 4 sweep lives here"
    )
    args = common.parse(parser, QUICK)
    figures: dict = {}
    with tempfile.TemporaryDirectory() as scratch:
        lrs = args.lrs.split(",")
        hand = by_hand(Path(scratch), lrs, args.updates, args.eval_n)
        common.info(f"{2 * len(lrs)} trainings by hand, two at a time: {hand:.1f}s")
        swept = as_sweep(Path(scratch), lrs, args.updates, args.eval_n)
        common.info(f"the same as one sweep: {swept:.1f}s ({swept / hand:.2f}x)")
    figures["overhead"] = {
        "by_hand_seconds": round(hand, 1),
        "sweep_seconds": round(swept, 1),
        "ratio": round(swept / hand, 3),
    }
    if args.table4:
        with common.scratch(args.workdir) as workdir:
            figures["table4"] = table4(workdir)
    common.record(args, figures)


if __name__ == "__main__":
    main()
