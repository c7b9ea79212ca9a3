"""Train NPI presets, verify them when their task has a verification set, and evaluate far beyond the
training lengths. One table row per preset: traces, updates, training time, VERIFIED, accuracy per length.

    python benchmarks/npi_presets.py --preset sort-recursive --lengths 20,60,100
    python benchmarks/npi_presets.py --preset addition-recursive --lengths 100,5000,10000 --batch 50
    python benchmarks/npi_presets.py --preset sort --lengths 20,60,80,100
    python benchmarks/npi_presets.py --preset multitask --task addition:10 --task sort:5

Runs live in `--workdir`/PRESET and a finished run of the same preset is reused. Problems per length run
in lockstep batches of `--batch`; at recursion depth 10,000 each problem holds about 20 MB of saved LSTM
states, so deep runs want smaller batches. Writes the rows to benchmarks/results/npi_presets.json (see
--out, --json; each run replaces that file, so give all presets of a table to one run).

    python benchmarks/npi_presets.py --quick     # multitask on tiny sizes: checks that it runs
"""

from __future__ import annotations

import argparse
from pathlib import Path

import common
import torch
from common import MultiTask, SizeResult, evaluate, verify

QUICK_RUN = (["multitask"], ["addition:3", "sort:3"])
"""What --quick runs without a --preset (presets, --task): the multitask preset, which takes --task. A
recursive preset (`--quick --preset addition-recursive`) verifies as well, but building its task's
verification set alone takes 15 to 30 s (the oracle traces of 24,642 problems)."""
QUICK = {
    "lengths": "3,5",
    "n": 4,
    "threads": 1,
    "workdir": None,
    "set": [
        "data.sizes=1:3",
        "data.per_size=2",
        "data.cover=0",
        "train.updates=2",
        "train.validation_problems=4",
    ],
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", action="append", help="preset to run (repeatable; required)")
    parser.add_argument("--lengths", default="20", help="comma-separated test sizes")
    parser.add_argument(
        "--task", action="append", help="multitask presets: TASK:SIZES such as sort:5 (instead of --lengths)"
    )
    parser.add_argument("--n", type=int, default=100, help="test problems per size")
    parser.add_argument("--batch", type=int, default=100, help="problems run in lockstep at once")
    parser.add_argument("--set", action="append", default=[], help="[PRESET:]SECTION.FIELD=VALUE override")
    parser.add_argument(
        "--workdir", type=Path, default=Path("runs/bench"), help="runs live (and are reused) here"
    )
    parser.add_argument("--threads", type=int, default=2)
    args = common.parse(parser, QUICK)
    if not args.preset and not args.quick:
        parser.error("the following arguments are required: --preset")
    if not args.preset:
        args.preset, args.task = QUICK_RUN[0], args.task or QUICK_RUN[1]
    torch.set_num_threads(args.threads)

    rows, presets = [], {}
    with common.scratch(args.workdir) as workdir:
        for preset_name in args.preset:
            chosen = common.preset(preset_name, args.set)
            assert isinstance(chosen, common.Preset), "NPI presets only"
            presets[preset_name] = chosen
            rows.append(_run(preset_name, chosen, workdir, args))
    common.record(args, {"rows": rows}, presets=presets)


def _run(preset_name: str, chosen: common.Preset, workdir: Path, args) -> dict:
    """Train (or reuse), verify and evaluate one preset; prints its row and returns it."""
    path = common.obtain(chosen, workdir / preset_name, common.info, verbose=True)
    model, task, payload = common.load(path)
    train_seconds = float(payload["elapsed"])
    verdict = "n/a"
    try:
        task.verification_problems()
    except ValueError:
        pass
    else:
        result = verify(model, task)
        verdict = "VERIFIED" if result.verified else f"NOT ({result.wrong_frames}/{result.frames} frames)"
    results: list[tuple[str, SizeResult]] = []
    for name, sizes in _test_sets(task, args):
        view = task.only(name) if isinstance(task, MultiTask) else task
        for size in sizes:
            [r] = evaluate(model, view, [size], args.n, seed=0, batch=args.batch)
            results.append((name, r))
            print(f"  {preset_name} {name}@{size}: {100 * r.accuracy:.1f}% in {r.seconds:.0f}s", flush=True)
    row = {
        "preset": preset_name,
        "traces": payload["traces"],
        "updates": payload["update"],
        "train_seconds": round(train_seconds, 1),
        "verified": verdict,
        "accuracy": {f"{name}@{r.size}": r.accuracy for name, r in results},
        "eval_seconds": {f"{name}@{r.size}": round(r.seconds, 1) for name, r in results},
    }
    accs = ", ".join(f"{k} {100 * v:.1f}%" for k, v in row["accuracy"].items())
    head = f"| {preset_name} | {row['traces']} | {row['updates']} | {train_seconds:.0f} s"
    print(f"{head} | {verdict} | {accs} |", flush=True)
    return row


def _test_sets(task, args) -> list[tuple[str, list[int]]]:
    if args.task:
        return [(spec.split(":")[0], [int(x) for x in spec.split(":")[1].split(",")]) for spec in args.task]
    return [(task.name, [int(x) for x in args.lengths.split(",")])]


if __name__ == "__main__":
    main()
