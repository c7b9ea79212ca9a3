"""The paper's Table 1 and its new-program experiment: one NPI for addition, sorting and car
canonicalization, then MAX learned on the frozen core.

Trains (or reuses, from --workdir) the single-task presets `addition`, `sort` and `cars`, the
`multitask-cars` preset, and extends the multitask model with RJMP and MAX (`neuralprog extend`). Then
measures exact-match accuracy, each model on the tasks it knows: addition at 10 digits and sorting at
length 5 (100 random problems each, --n), MAX at length 5 (100), and cars on 500 trajectories of 1 to 4
camera moves (--cars-n) on seen and on unseen car models. Paper (Table 1, single / multi): addition
100 / 97.0, sorting 100 / 100, cars seen 89.5 / 91.4, unseen 88.7 / 89.9; MAX 100. Writes the figures
to benchmarks/results/multitask_table1.json (see --out, --json).

    python benchmarks/multitask_table1.py [--workdir runs/bench] [--n 100]
    python benchmarks/multitask_table1.py --multitask multitask   # addition and sorting only (no cars)
    python benchmarks/multitask_table1.py --quick     # tiny sizes: checks in seconds that it runs
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import common
import torch
from common import CHECKPOINT_NAME, CarsTask, ExtendConfig, MultiTask, checkpoint, evaluate, extend

TESTS = {"addition": 10, "sort": 5, "cars": (1, 2, 3, 4), "cars-unseen": (1, 2, 3, 4), "max": 5}
"""Row -> test size (cars: trajectory lengths, in equal numbers)."""
PAPER = {
    "addition": ("100", "97.0"),
    "sort": ("100", "100"),
    "cars": ("89.5", "91.4"),
    "cars-unseen": ("88.7", "89.9"),
    "max": ("", "100"),
}
MULTITASKS = {"multitask-cars": ("addition", "sort", "cars"), "multitask": ("addition", "sort")}
"""The multitask presets this script takes (--multitask), each with the single-task presets of its tasks."""

QUICK = {
    "workdir": None,
    "n": 4,
    "cars_n": 4,
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


def test_sets(task) -> list[tuple[str, object]]:
    """(row of the table, the task drawing that row's problems) for each task a model knows; cars give
    two rows, seen and unseen car models."""
    parts = task.parts if isinstance(task, MultiTask) else {task.name: task}
    sets: list[tuple[str, object]] = []
    for name, part in parts.items():
        view = task.only(name) if isinstance(task, MultiTask) else task
        sets.append((name, view))
        if isinstance(part, CarsTask):
            unseen = part.view("unseen")
            sets.append((f"{name}-unseen", view.with_part(unseen) if isinstance(view, MultiTask) else unseen))
    return sets


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--workdir", type=Path, default=Path("runs/bench"), help="runs live (and are reused) here"
    )
    parser.add_argument("--n", type=int, default=100, help="problems per task (cars: see --cars-n)")
    parser.add_argument("--cars-n", type=int, default=500, help="cars trajectories per test set")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--multitask",
        choices=list(MULTITASKS),
        default="multitask-cars",
        help="the multitask preset: Table 1's three tasks (default), or addition and sorting only",
    )
    parser.add_argument("--set", action="append", default=[], metavar="[PRESET:]SECTION.FIELD=VALUE")
    defaults = ExtendConfig()
    parser.add_argument(
        "--extend-sizes", default=",".join(map(str, defaults.sizes)), help="sizes of MAX's traces"
    )
    parser.add_argument("--extend-per-size", type=int, default=defaults.per_size)
    parser.add_argument("--extend-updates", type=int, default=defaults.updates)
    args = common.parse(parser, QUICK)
    multitask = args.multitask
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
        for name in (*MULTITASKS[multitask], multitask):
            chosen = common.preset(name, args.set)
            assert isinstance(chosen, common.Preset)
            presets[name] = chosen
            paths[name] = common.obtain(chosen, workdir / name, common.info, verbose=True)
            seconds[name] = float(checkpoint.load(paths[name])["elapsed"])
        extended = workdir / f"{multitask}-max" / CHECKPOINT_NAME
        if not extended.exists():
            extend(paths[multitask], ["RJMP", "MAX"], extended.parent, extend_config, log=common.info)
        paths[f"{multitask}-max"] = extended
        seconds[f"{multitask}-max"] = float(checkpoint.load(extended)["elapsed"])

        for model_name, path in paths.items():
            model, task, _ = common.load(path)
            accuracy[model_name] = {}
            for row, view in test_sets(task):
                sizes = TESTS[row]
                if isinstance(sizes, tuple):  # cars: equal numbers of each trajectory length
                    results = evaluate(model, view, list(sizes), max(1, args.cars_n // len(sizes)), seed=0)
                else:
                    results = evaluate(model, view, [sizes], args.n, seed=0)
                accuracy[model_name][row] = sum(r.correct for r in results) / sum(r.n for r in results)
                common.info(f"{model_name} {row}: {100 * accuracy[model_name][row]:.1f}%")

    def cell(model_name: str, row: str) -> str:
        value = accuracy[model_name].get(row)
        return "" if value is None else f"{100 * value:.1f}"

    single = {"cars-unseen": "cars"}
    rows = [
        [
            f"{row} @ {'1-4 moves' if isinstance(size, tuple) else size}",
            cell(single.get(row, row), row) if single.get(row, row) in accuracy else "",
            cell(multitask, row),
            cell(f"{multitask}-max", row),
            *PAPER[row],
        ]
        for row, size in TESTS.items()
        if any(row in accuracy[model_name] for model_name in accuracy)
    ]
    header = [
        "task",
        "single-task",
        multitask,
        f"{multitask} + MAX (frozen core)",
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
