"""Length generalization of sorting: exact-match accuracy against array length for three models.

- NPI, preset `sort` (the paper's setup: 64 traces per length 2..20): the paper sorts up to length 60.
- recursive NPI, preset `sort-recursive` (Cai et al. 2017: 100 traces of length 1-4): 100% up to 90.
- the seq2seq baseline, preset `sort-seq2seq` (the sort preset's 1,216 arrays, no traces): the paper's
  fails beyond length 25.

Give trained checkpoints with --npi, --recursive and --seq2seq; a model without one is trained from its
preset into --workdir (reusing a finished run there) or a temp dir. Every model is scored on the same
--n random arrays per length, the ones `neuralprog eval CKPT --lengths ... --n N --seed S` draws. Prints
a table and plots accuracy against length. Long arrays are slow for NPI: bubble sort takes about 14
model steps per pair and sweep, some 140,000 steps per array of length 100, run in lockstep batches of
--batch arrays.

    python benchmarks/sort_generalization.py --npi runs/sort/checkpoint.pt \\
        --recursive runs/sort-recursive/checkpoint.pt --seq2seq runs/sort-seq2seq/checkpoint.pt
    python benchmarks/sort_generalization.py --quick     # tiny sizes: checks in seconds that it runs

Writes the figures to benchmarks/results/sort_generalization.json and the plot beside it (see --out,
--json, --plot).
"""

from __future__ import annotations

import argparse

import common
import torch
from common import accuracy, info, load, obtain, plot, preset, table

MODELS = {
    "npi": ("NPI", "sort"),
    "recursive": ("recursive NPI", "sort-recursive"),
    "seq2seq": ("seq2seq", "sort-seq2seq"),
}
"""Option name -> (label, preset)."""

QUICK = {
    "lengths": "3,5",
    "n": 4,
    "updates": 2,
    "set": [
        "data.sizes=2:4",
        "data.per_size=2",
        "data.cover=0",
        "model.hidden_size=32",
        "sort:train.validation_problems=4",
        "sort-recursive:train.validation_problems=4",
    ],
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    for option, (label, name) in MODELS.items():
        parser.add_argument(
            f"--{option}", metavar="CKPT", help=f"checkpoint of the {label} model (preset {name})"
        )
    parser.add_argument("--models", default=",".join(MODELS), help="which of them to score")
    parser.add_argument("--lengths", default="5,10,20,25,30,40,60,80,100", help="array lengths to test")
    parser.add_argument("--n", type=int, default=100, help="random arrays per length")
    parser.add_argument("--batch", type=int, default=100, help="arrays run in lockstep at once")
    parser.add_argument("--seed", type=int, default=0, help="seed of the test arrays")
    parser.add_argument("--updates", type=int, help="update cap of the models trained here")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="[PRESET:]SECTION.FIELD=VALUE",
        help="override for the presets trained here, for one (e.g. sort-seq2seq:train.lr=3e-4) or all",
    )
    parser.add_argument(
        "--workdir", help="train missing models here (and reuse finished runs); default: temp"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--plot", help="PNG of accuracy against length (default: DIR/NAME.png)")
    parser.add_argument("--verbose", action="store_true", help="print the training logs")
    args = common.parse(parser, QUICK)
    plot_path = common.output(args, args.plot, ".png")

    torch.set_num_threads(args.threads)
    lengths = [int(x) for x in args.lengths.split(",")]
    chosen = [m.strip() for m in args.models.split(",") if m.strip()]
    if unknown := set(chosen) - set(MODELS):
        parser.error(f"unknown --models {', '.join(sorted(unknown))}; choose from {', '.join(MODELS)}")
    sets = [*args.set, *([f"train.updates={args.updates}"] if args.updates else [])]
    results: dict[str, dict] = {}
    presets = {}
    with common.scratch(args.workdir) as workdir:
        for option in chosen:
            label, name = MODELS[option]
            path = getattr(args, option)
            if not path:
                presets[name] = preset(name, sets)
                path = obtain(presets[name], workdir / name, info, args.verbose)
            model, task, payload = load(path)
            scores = []
            for length in lengths:
                r = accuracy(model, task, length, args.n, args.seed, args.batch)
                scores.append(r)
                info(f"{label} at length {length}: {r.correct}/{r.n} sorted in {r.seconds:.1f}s")
            results[label] = {
                "checkpoint": str(path) if getattr(args, option) or args.workdir else None,
                "updates": payload.get("update"),
                "train_seconds": payload.get("elapsed"),
                "accuracy": {r.size: r.accuracy for r in scores},
                "sizes": [r.to_json() for r in scores],
            }

    labels = list(results)
    print(f"\nSorting: exact match on {args.n} random arrays per length")
    rows = [[str(n)] + [f"{100 * results[label]['accuracy'][n]:.0f}%" for label in labels] for n in lengths]
    print(table(["length", *labels], rows))
    series = {label: [results[label]["accuracy"][n] for n in lengths] for label in labels}
    plot(lengths, series, plot_path, "array length", "sorting: length generalization", log2x=False)
    info(f"plot: {plot_path}")
    figures = {"lengths": lengths, "models": results, "plot": str(plot_path)}
    common.record(args, figures, presets=presets)


if __name__ == "__main__":
    main()
