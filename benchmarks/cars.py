"""NPI's 3D car canonicalization (paper, Sec. 4.3 and Table 1): rendering, training, seen and unseen cars.

Renders the default dataset into a fresh cache directory (timed), then loads it again (timed); trains (or
reuses, from --workdir) the `cars` preset; and runs the model on 500 trajectories per test set:
- Table 1's protocol: 1 to 4 camera moves (125 per length), on seen and on unseen car models;
- success against trajectory length: 50 trajectories per length 1..10, seen and unseen.
A trajectory succeeds only when the model returns from GOTO within its step budget with the camera at the
target pose. Paper (Table 1, single task): seen 89.5, unseen 88.7. Writes benchmarks/results/cars.json.

    python benchmarks/cars.py [--workdir runs/bench] [--n 500]
    python benchmarks/cars.py --quick     # tiny sizes: checks in seconds that it runs
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import common
import torch
from common import CarCache, CarsTask, checkpoint, evaluate

PAPER = {"seen": 89.5, "unseen": 88.7}
TABLE1_LENGTHS = (1, 2, 3, 4)
CURVE_LENGTHS = tuple(range(1, 11))

QUICK = {
    "workdir": None,
    "n": 8,
    "render": False,
    "set": ["data.sizes=1:2", "data.per_size=4", "train.updates=2", "train.validation_problems=4"],
}


def success(model, task: CarsTask, lengths: tuple[int, ...], per_length: int) -> dict:
    """Exact success per trajectory length and overall, on random problems of the task's models."""
    results = evaluate(model, task, list(lengths), per_length, seed=0)
    correct = sum(r.correct for r in results)
    return {
        "n": per_length * len(lengths),
        "accuracy": correct / (per_length * len(lengths)),
        "halted": sum(r.halted for r in results) / (per_length * len(lengths)),
        "by_length": {r.size: r.accuracy for r in results},
        "seconds": sum(r.seconds for r in results),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--workdir", type=Path, default=Path("runs/bench"), help="runs live (and are reused) here"
    )
    parser.add_argument("--n", type=int, default=500, help="trajectories per test set")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--preset", default="cars")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE")
    parser.add_argument(
        "--no-render", dest="render", action="store_false", help="skip timing a cold render of the dataset"
    )
    args = common.parse(parser, QUICK)
    torch.set_num_threads(args.threads)
    figures: dict = {}

    if args.render:  # the default dataset, from nothing, into a scratch cache; then loaded again
        with tempfile.TemporaryDirectory() as scratch:
            cache = CarCache(scratch, 64)
            started = time.perf_counter()
            cache.build()
            cold = time.perf_counter() - started
            started = time.perf_counter()
            cache.load()
            warm = time.perf_counter() - started
        figures["render"] = {"models": cache.n_models, "size": 64, "cold_seconds": cold, "load_seconds": warm}
        common.info(
            f"rendering {cache.n_models} models at 64px: {cold:.1f}s; loading them again: {warm:.1f}s"
        )

    chosen = common.preset(args.preset, args.set)
    with common.scratch(args.workdir) as workdir:
        path = common.obtain(chosen, workdir / chosen.name, common.info, verbose=True)
        payload = checkpoint.load(path)
        model, task, _ = common.load(path)
        assert isinstance(task, CarsTask)
        figures["training"] = {"seconds": float(payload["elapsed"]), "updates": int(payload["update"])}
        per_table1 = max(1, args.n // len(TABLE1_LENGTHS))
        per_curve = max(1, args.n // len(CURVE_LENGTHS))
        for split in ("seen", "unseen"):
            view = task.view(split)
            figures[split] = {
                "table1": success(model, view, TABLE1_LENGTHS, per_table1),
                "curve": success(model, view, CURVE_LENGTHS, per_curve),
            }
            common.info(
                f"{split}: {100 * figures[split]['table1']['accuracy']:.1f}% on 1-4 moves, "
                f"{100 * figures[split]['curve']['accuracy']:.1f}% on 1-10"
            )

    rows = [
        [
            split,
            f"{100 * figures[split]['table1']['accuracy']:.1f}",
            f"{100 * figures[split]['curve']['accuracy']:.1f}",
            f"{PAPER[split]}",
        ]
        for split in ("seen", "unseen")
    ]
    print(common.table(["cars", "1-4 moves (Table 1)", "1-10 moves", "paper (Table 1)"], rows))
    curve = [
        [str(length)] + [f"{100 * figures[s]['curve']['by_length'][length]:.0f}" for s in ("seen", "unseen")]
        for length in CURVE_LENGTHS
    ]
    print(common.table(["moves", "seen %", "unseen %"], curve))
    print(f"training: {figures['training']['seconds']:.0f}s, {figures['training']['updates']} updates")
    figures["paper"] = PAPER
    common.record(args, figures, preset=chosen, threads=args.threads, cpu=os.cpu_count())


if __name__ == "__main__":
    main()
