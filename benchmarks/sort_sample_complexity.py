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
    python benchmarks/sort_sample_complexity.py --quick     # tiny sizes: checks in seconds that it runs

Writes the figures to benchmarks/results/sort_sample_complexity.json and the plot beside it (see --out,
--json, --plot).
"""

from __future__ import annotations

import argparse

import common
import torch
from common import accuracy, info, load, obtain, plot, preset, table

MODELS = {"NPI": "sort", "seq2seq": "sort-seq2seq"}
"""Label -> preset."""

QUICK = {
    "n": "2,4",
    "length": 4,
    "test": 4,
    "npi_updates": 2,
    "seq2seq_updates": 2,
    "set": ["model.hidden_size=32", "sort:train.validation_problems=4"],
}


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
    parser.add_argument("--plot", help="PNG of accuracy against N (default: DIR/NAME.png)")
    parser.add_argument("--verbose", action="store_true", help="print the training logs")
    args = common.parse(parser, QUICK)
    plot_path = common.output(args, args.plot, ".png")

    torch.set_num_threads(args.threads)
    sizes = [int(x) for x in args.n.split(",")]
    caps = {"NPI": args.npi_updates, "seq2seq": args.seq2seq_updates}
    presets = {}
    with common.scratch(args.workdir) as workdir:
        rows = []
        for n in sizes:
            row: dict = {"n": n}
            for label, name in MODELS.items():
                sets = [f"data.sizes={args.length}", f"data.per_size={n}", f"train.seed={args.seed}"]
                sets += [f"train.updates={caps[label]}"] if caps[label] else []
                chosen = preset(name, [*args.set, *sets])
                presets[f"{name}-n{n}"] = chosen
                path = obtain(chosen, workdir / f"{name}-n{n}", info, args.verbose)
                model, task, payload = load(path)
                result = accuracy(model, task, args.length, args.test, args.test_seed, args.batch)
                row[label] = {
                    "updates": payload["update"],
                    "train_seconds": payload["elapsed"],
                    "accuracy": result.accuracy,
                    "test": result.to_json(),
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
    first_perfect = {}
    for label in MODELS:
        perfect = [r["n"] for r in rows if r[label]["accuracy"] == 1.0]
        first_perfect[label] = perfect[0] if perfect else None
        first = f"N = {perfect[0]}" if perfect else f"no N up to {sizes[-1]}"
        print(f"{label} first sorts every test array at {first}")
    plot(
        sizes,
        {label: [r[label]["accuracy"] for r in rows] for label in MODELS},
        plot_path,
        "training arrays N",
        f"sorting, length {args.length}",
        log2x=True,
    )
    info(f"plot: {plot_path}")
    figures = {"rows": rows, "first_perfect_n": first_perfect, "plot": str(plot_path)}
    common.record(args, figures, presets=presets)


if __name__ == "__main__":
    main()
