"""NPI addition: training time and traces, then exact-match accuracy far beyond the training lengths.

Trains the `addition` preset (32 traces per length 1..20, as in the paper) for each requested number of
traces per length, then evaluates 100 random problems at each test length. Prints one table row per run.

    python benchmarks/addition_training.py [--per-length 8,16,32] [--lengths 10,100,1000,3000,10000]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

from neuralprog import checkpoint
from neuralprog.evaluate import evaluate
from neuralprog.models.npi import NPI
from neuralprog.presets import get_preset
from neuralprog.registry import get_task
from neuralprog.train.supervised import train


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--per-length", default="32", help="comma-separated traces per length to try")
    parser.add_argument("--lengths", default="10,100,1000,3000", help="test lengths (digits)")
    parser.add_argument("--n", type=int, default=100, help="test problems per length")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write the rows to this file")
    args = parser.parse_args()

    task = get_task("addition")
    base = get_preset("addition")
    lengths = [int(x) for x in args.lengths.split(",")]
    rows = []
    print("| traces | updates | train s | " + " | ".join(f"acc@{n}" for n in lengths) + " | eval s |")
    print("|---" * (4 + len(lengths)) + "|")
    for per_length in (int(x) for x in args.per_length.split(",")):
        preset = dataclasses.replace(
            base,
            data=dataclasses.replace(base.data, per_size=per_length),
            train=dataclasses.replace(base.train, seed=args.seed),
        )
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            path = train(preset, Path(tmp) / "run", progress=False, log=lambda _: None)
            train_seconds = time.perf_counter() - started
            payload = checkpoint.load(path)
        model = checkpoint.load_model(payload, NPI)
        results = evaluate(model, task, lengths, args.n, seed=args.seed)
        row = {
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
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
