"""The paper's Table 1 and its new-program experiment: one NPI for addition and sorting, then MAX learned
on the frozen core.

Trains (or reuses, from --workdir) the single-task presets `addition` and `sort`, the `multitask` preset,
and extends the multitask model with RJMP and MAX (`neuralprog extend`). Then measures exact-match
accuracy on 100 random problems: addition at 10 digits, sorting at length 5, MAX at length 5, each model
on the tasks it knows. Paper (Table 1): addition 100 / 97.0, sorting 100 / 100 (single / multi); MAX 100.
Writes the figures to benchmarks/results/multitask_table1.json (see --out, --json).

    python benchmarks/multitask_table1.py [--workdir runs/bench] [--n 100]
    python benchmarks/multitask_table1.py --quick     # tiny sizes: checks in seconds that it runs
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import common
import torch
from common import CHECKPOINT_NAME, ExtendConfig, MultiTask, checkpoint, evaluate, extend

TESTS = {"addition": 10, "sort": 5, "max": 5}
PAPER = {"addition": ("100", "97.0"), "sort": ("100", "100"), "max": ("", "100")}

QUICK = {
    "workdir": None,
    "n": 4,
    "threads": 1,
    "set": [
        "data.sizes=2:3",
        "data.per_size=2",
        "data.cover=0",
        "train.updates=2",
        "train.validation_problems=4",
    ],
    "extend_sizes": "2,3",
    "extend_per_size": 2,
    "extend_updates": 2,
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--workdir", type=Path, default=Path("runs/bench"), help="runs live (and are reused) here"
    )
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], metavar="[PRESET:]SECTION.FIELD=VALUE")
    defaults = ExtendConfig()
    parser.add_argument(
        "--extend-sizes", default=",".join(map(str, defaults.sizes)), help="sizes of MAX's traces"
    )
    parser.add_argument("--extend-per-size", type=int, default=defaults.per_size)
    parser.add_argument("--extend-updates", type=int, default=defaults.updates)
    args = common.parse(parser, QUICK)
    torch.set_num_threads(args.threads)
    extend_config = dataclasses.replace(
        defaults,
        sizes=tuple(int(x) for x in args.extend_sizes.split(",")),
        per_size=args.extend_per_size,
        updates=args.extend_updates,
    )

    paths, seconds, presets = {}, {}, {}
    accuracy: dict[str, dict[str, float]] = {}
    with common.scratch(args.workdir) as workdir:
        for name in ("addition", "sort", "multitask"):
            chosen = common.preset(name, args.set)
            assert isinstance(chosen, common.Preset)
            presets[name] = chosen
            paths[name] = common.obtain(chosen, workdir / name, common.info, verbose=True)
            seconds[name] = float(checkpoint.load(paths[name])["elapsed"])
        extended = workdir / "multitask-max" / CHECKPOINT_NAME
        if not extended.exists():
            extend(paths["multitask"], ["RJMP", "MAX"], extended.parent, extend_config, log=common.info)
        paths["multitask-max"] = extended
        seconds["multitask-max"] = float(checkpoint.load(extended)["elapsed"])

        for model_name, path in paths.items():
            model, task, _ = common.load(path)
            parts = task.parts if isinstance(task, MultiTask) else {task.name: task}
            accuracy[model_name] = {}
            for part in parts:
                view = task.only(part) if isinstance(task, MultiTask) else task
                [r] = evaluate(model, view, [TESTS[part]], args.n, seed=0)
                accuracy[model_name][part] = r.accuracy
                common.info(f"{model_name} {part}@{TESTS[part]}: {100 * r.accuracy:.1f}%")

    def cell(model_name: str, part: str) -> str:
        value = accuracy[model_name].get(part)
        return "" if value is None else f"{100 * value:.1f}"

    rows = [
        [
            f"{part} @ {size}",
            cell(part, part) if part in accuracy else "",
            cell("multitask", part),
            cell("multitask-max", part),
            *PAPER[part],
        ]
        for part, size in TESTS.items()
    ]
    header = [
        "task",
        "single-task",
        "multitask",
        "multitask + MAX (frozen core)",
        "paper single",
        "paper multi",
    ]
    print(common.table(header, rows))
    print("training seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items()))
    figures = {
        "accuracy": accuracy,
        "seconds": seconds,
        "test_sizes": TESTS,
        "paper": {part: {"single": single, "multi": multi} for part, (single, multi) in PAPER.items()},
    }
    common.record(args, figures, presets=presets, extend=extend_config)


if __name__ == "__main__":
    main()
