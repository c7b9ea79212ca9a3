"""Sample complexity of sorting at one length (NPI paper, Sec. 4.2): NPI against the seq2seq baseline.

For each N in --n, train NPI (preset `sort` with data.sizes=LENGTH, data.per_size=N) and the seq2seq
baseline (preset `sort-seq2seq`, same data) on the same N arrays (same seed: the first N arrays NPI's
trainer draws), then score both on --test fresh arrays of that length, the problems `neuralprog eval CKPT
--lengths 20 --n 100` draws. Prints a table, the smallest N at which each model sorts every test array,
and plots accuracy against N. Paper, at length 20: NPI sorts almost perfectly from 8 examples, seq2seq
needs over 250.

Each run stops at its update cap (the preset's, or --npi-updates / --seq2seq-updates) or earlier once it
is perfect on its training data (NPI: also on 32 validation arrays).

    python benchmarks/sort_sample_complexity.py --npi-updates 1000
    python benchmarks/sort_sample_complexity.py --n 2,4 --test 10 --npi-updates 20 --seq2seq-updates 20 \\
        --set model.hidden_size=32 --set sort:train.eval_every=10     # a quick smoke run
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch
from common import accuracy, info, load, obtain, plot, preset, table

MODELS = {"NPI": "sort", "seq2seq": "sort-seq2seq"}
"""Label -> preset."""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", default="2,4,8,16,32,64,128,256,512", help="training set sizes N to try")
    parser.add_argument("--length", type=int, default=20, help="array length of training and test arrays")
    parser.add_argument("--test", type=int, default=100, help="fresh test arrays per model")
    parser.add_argument("--npi-updates", type=int, help="update cap of each NPI run (preset: 4000)")
    parser.add_argument("--seq2seq-updates", type=int, help="update cap of each seq2seq run (preset: 3000)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="[PRESET:]SECTION.FIELD=VALUE",
        help="preset override, for one preset (sort: or sort-seq2seq:) or both; repeatable",
    )
    parser.add_argument("--seed", type=int, default=0, help="training seed: problems, weights, batches")
    parser.add_argument("--test-seed", type=int, default=0, help="seed of the test arrays")
    parser.add_argument("--batch", type=int, default=100, help="test arrays NPI runs in lockstep")
    parser.add_argument("--workdir", help="keep the runs here (and reuse finished ones); default: a temp dir")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--plot", default="sort_sample_complexity.png", help="PNG of accuracy against N")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--verbose", action="store_true", help="print the training logs")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    sizes = [int(x) for x in args.n.split(",")]
    caps = {"NPI": args.npi_updates, "seq2seq": args.seq2seq_updates}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(args.workdir or tmp)
        rows = []
        for n in sizes:
            row: dict = {"n": n}
            for label, name in MODELS.items():
                sets = [f"data.sizes={args.length}", f"data.per_size={n}", f"train.seed={args.seed}"]
                sets += [f"train.updates={caps[label]}"] if caps[label] else []
                chosen = preset(name, [*args.set, *sets])
                path = obtain(chosen, workdir / f"{name}-n{n}", info, args.verbose)
                model, task, payload = load(path)
                result = accuracy(model, task, args.length, args.test, args.test_seed, args.batch)
                row[label] = {
                    "updates": payload["update"],
                    "train_seconds": payload["elapsed"],
                    "accuracy": result.accuracy,
                    "checkpoint": str(path) if args.workdir else None,
                }
                info(
                    f"N={n} {label}: {payload['update']} updates in {payload['elapsed']:.0f}s, "
                    f"{100 * result.accuracy:.0f}% of {args.test} test arrays sorted"
                )
            rows.append(row)

    print(f"\nSorting, length {args.length}: exact match on {args.test} fresh arrays, by training arrays N")
    header = ["N"]
    for label in MODELS:
        header += [f"{label} updates", f"{label} train s", f"{label} exact"]
    cells = []
    for r in rows:
        line = [str(r["n"])]
        for label in MODELS:
            m = r[label]
            line += [str(m["updates"]), f"{m['train_seconds']:.0f}", f"{100 * m['accuracy']:.0f}%"]
        cells.append(line)
    print(table(header, cells))
    for label in MODELS:
        perfect = [r["n"] for r in rows if r[label]["accuracy"] == 1.0]
        first = f"N = {perfect[0]}" if perfect else f"no N up to {sizes[-1]}"
        print(f"{label} first sorts every test array at {first}")
    plot(
        sizes,
        {label: [r[label]["accuracy"] for r in rows] for label in MODELS},
        args.plot,
        "training arrays N",
        f"sorting, length {args.length}",
        log2x=True,
    )
    info(f"plot: {args.plot}")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
