"""The NPI paper's seq2seq baseline on sorting: sample complexity at length 20, then length generalization.

1. For each N in --n: train seq2seq (2 x 256 LSTM) on N random arrays of length 20 (digits 0-9) and
   report exact-match accuracy on --test fresh arrays of length 20. Paper: NPI sorts almost perfectly
   from 8 examples, seq2seq needs over 250.
2. Train one model on --per-length arrays of each length 2..20 (64 each, 1,216 in all, like the paper's
   NPI) and report accuracy at --test-lengths. Paper: seq2seq fails beyond length 25.

Each training run stops at --updates, or earlier once every training array is sorted right twice in a
row. Prints one table per part.

    python benchmarks/seq2seq_sort.py [--n 8,32,128,256,512] [--updates 3000] [--threads 1]
    python benchmarks/seq2seq_sort.py --only lengths --test-lengths 5,10,20,25,30,40,60
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from neuralprog.models.baselines import Seq2Seq, Seq2SeqConfig
from neuralprog.train.seq2seq import (
    VOCAB_SIZE,
    Seq2SeqTrainConfig,
    evaluate_seq2seq,
    sample_problems,
    train_seq2seq,
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", default="8,32,128,256,512", help="training arrays of length 20 to try")
    parser.add_argument("--length", type=int, default=20, help="array length of part 1")
    parser.add_argument("--per-length", type=int, default=64, help="part 2: training arrays per length")
    parser.add_argument("--max-train-length", type=int, default=20, help="part 2 trains on lengths 2..this")
    parser.add_argument("--test-lengths", default="5,10,20,25,30,40,60", help="part 2: test lengths")
    parser.add_argument("--test", type=int, default=100, help="fresh test arrays per length")
    parser.add_argument("--only", choices=["samples", "lengths"], help="run only one part")
    parser.add_argument("--updates", type=int, default=3000, help="update cap per training run")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--hidden", type=int, default=256, help="LSTM units per layer (paper: 256)")
    parser.add_argument("--layers", type=int, default=2, help="LSTM layers (paper: 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, help="torch.set_num_threads(THREADS)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--verbose", action="store_true", help="print the training log")
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    model_config = Seq2SeqConfig(VOCAB_SIZE, hidden_size=args.hidden, layers=args.layers)
    train_config = Seq2SeqTrainConfig(
        updates=args.updates, batch_size=args.batch_size, eval_every=args.eval_every, seed=args.seed
    )

    def fit(problems: list[dict]) -> tuple[Seq2Seq, dict]:
        lines: list[str] = []
        started = time.perf_counter()
        model = train_seq2seq(
            "sort", problems, train_config, model_config, device=args.device, log=_logger(lines, args.verbose)
        )
        seconds = time.perf_counter() - started
        # The last evaluation line of the training log ("update U/UPDATES ...") says where it stopped.
        evaluations = [line for line in lines if line.startswith("update ")]
        updates = int(evaluations[-1].split()[1].split("/")[0]) if evaluations else 0
        row = {"train_problems": len(problems), "updates": updates, "train_seconds": seconds}
        row["train_exact"] = float(np.mean(evaluate_seq2seq(model, "sort", problems)))
        return model, row

    def test(model: Seq2Seq, length: int) -> float:
        problems = sample_problems("sort", np.random.default_rng([args.seed, 1, length]), length, args.test)
        return float(np.mean(evaluate_seq2seq(model, "sort", problems)))

    results: dict[str, list[dict]] = {}
    if args.only in (None, "samples"):
        print(f"\nSample complexity: arrays of length {args.length}, {args.test} fresh test arrays")
        print(f"| train arrays | updates | train s | train exact | test exact@{args.length} |")
        print("|---|---|---|---|---|")
        rows = results["samples"] = []
        for n in (int(x) for x in args.n.split(",")):
            problems = sample_problems("sort", np.random.default_rng([args.seed, 0]), args.length, n)
            model, row = fit(problems)
            row["test_exact"] = test(model, args.length)
            rows.append(row)
            print(
                f"| {n} | {row['updates']} | {row['train_seconds']:.0f} | {100 * row['train_exact']:.0f}% "
                f"| {100 * row['test_exact']:.0f}% |",
                flush=True,
            )

    if args.only in (None, "lengths"):
        rng = np.random.default_rng([args.seed, 2])
        lengths = range(2, args.max_train_length + 1)
        problems = [p for n in lengths for p in sample_problems("sort", rng, n, args.per_length)]
        test_lengths = [int(x) for x in args.test_lengths.split(",")]
        print(
            f"\nLength generalization: {args.per_length} arrays per length 2..{args.max_train_length} "
            f"({len(problems)} in all), {args.test} fresh test arrays per length"
        )
        model, row = fit(problems)
        row["test_exact"] = {n: test(model, n) for n in test_lengths}
        results["lengths"] = [row]
        print(
            f"trained {row['updates']} updates in {row['train_seconds']:.0f}s, "
            f"training arrays exact {100 * row['train_exact']:.0f}%"
        )
        print("| length | " + " | ".join(str(n) for n in test_lengths) + " |")
        print("|---" * (1 + len(test_lengths)) + "|")
        print("| exact | " + " | ".join(f"{100 * a:.0f}%" for a in row["test_exact"].values()) + " |")

    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), **results}, indent=2) + "\n")


def _logger(lines: list[str], verbose: bool):
    def log(line: str) -> None:
        lines.append(line)
        if verbose:
            print("   ", line, flush=True)

    return log


if __name__ == "__main__":
    main()
