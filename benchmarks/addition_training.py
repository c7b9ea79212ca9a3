"""NPI addition: training time and traces, then exact-match accuracy far beyond the training lengths.

Trains the `addition` preset (32 traces per length 1..20, as in the paper) for each requested number of
traces per length, then evaluates 100 random problems at each test length. Prints one table row per run
and writes the rows to benchmarks/results/addition_training.json (see --out, --json).

    python benchmarks/addition_training.py [--per-length 8,16,32] [--lengths 10,100,1000,3000,10000]
    python benchmarks/addition_training.py --quick      # tiny sizes: checks in seconds that it runs
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import common
from common import evaluate

QUICK = {
    "preset": "addition-tiny",
    "set": ["data.sizes=1:3", "train.updates=3"],
    "per_length": "2,4",
    "lengths": "3,5",
    "n": 4,
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--per-length", default="32", help="comma-separated traces per length to try")
    parser.add_argument("--lengths", default="10,100,1000,3000", help="test lengths (digits)")
    parser.add_argument("--n", type=int, default=100, help="test problems per length")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--preset", default="addition", help="an NPI addition preset")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE")
    args = common.parse(parser, QUICK)

    base = common.preset(args.preset, args.set)
    assert isinstance(base, common.Preset), "an NPI preset"
    task = common.get_task(base.task)
    lengths = [int(x) for x in args.lengths.split(",")]
    rows, presets = [], []
    print("| traces | updates | train s | " + " | ".join(f"acc@{n}" for n in lengths) + " | eval s |")
    print("|---" * (4 + len(lengths)) + "|")
    for per_length in (int(x) for x in args.per_length.split(",")):
        preset = dataclasses.replace(
            base,
            data=dataclasses.replace(base.data, per_size=per_length),
            train=dataclasses.replace(base.train, seed=args.seed),
        )
        presets.append(preset)
        with common.scratch(None) as tmp:
            started = time.perf_counter()
            path = common.supervised.train(preset, tmp / "run", progress=False, log=lambda _: None)
            train_seconds = time.perf_counter() - started
            model, _, payload = common.load(path)
        results = evaluate(model, task, lengths, args.n, seed=args.seed)
        row = {
            "per_length": per_length,
            "traces": payload["traces"],
            "updates": payload["update"],
            "train_seconds": train_seconds,
            "accuracy": {r.size: r.accuracy for r in results},
            "eval_seconds": {r.size: r.seconds for r in results},
        }
        rows.append(row)
        accs = " | ".join(f"{100 * r.accuracy:.0f}%" for r in results)
        evals = "/".join(f"{r.seconds:.0f}" for r in results)
        print(f"| {row['traces']} | {row['updates']} | {train_seconds:.0f} | {accs} | {evals} |", flush=True)
    common.record(args, {"rows": rows}, presets=presets)


if __name__ == "__main__":
    main()
