"""The paper's Table 1 and its new-program experiment: one NPI for addition and sorting, then MAX learned
on the frozen core.

Trains (or reuses, from --workdir) the single-task presets `addition` and `sort`, the `multitask` preset,
and extends the multitask model with RJMP and MAX (`neuralprog extend`). Then measures exact-match
accuracy on 100 random problems: addition at 10 digits, sorting at length 5, MAX at length 5, each model
on the tasks it knows. Paper (Table 1): addition 100 / 97.0, sorting 100 / 100 (single / multi); MAX 100.

    python benchmarks/multitask_table1.py [--workdir runs/bench] [--n 100]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import common
import torch

from neuralprog import checkpoint
from neuralprog.evaluate import evaluate
from neuralprog.models.npi import NPI
from neuralprog.multitask import MultiTask
from neuralprog.presets import Preset
from neuralprog.registry import get_task
from neuralprog.train.common import CHECKPOINT_NAME
from neuralprog.train.extend import extend

TESTS = {"addition": 10, "sort": 5, "max": 5}
PAPER = {"addition": ("100", "97.0"), "sort": ("100", "100"), "max": ("", "100")}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workdir", type=Path, default=Path("runs/bench"))
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    paths, seconds = {}, {}
    for name in ("addition", "sort", "multitask"):
        chosen = common.preset(name, [])
        assert isinstance(chosen, Preset)
        paths[name] = common.obtain(chosen, args.workdir / name, common.info, verbose=True)
        seconds[name] = float(checkpoint.load(paths[name])["elapsed"])
    extended = args.workdir / "multitask-max" / CHECKPOINT_NAME
    if not extended.exists():
        extend(paths["multitask"], ["RJMP", "MAX"], extended.parent, log=common.info)
    paths["multitask-max"] = extended
    seconds["multitask-max"] = float(checkpoint.load(extended)["elapsed"])

    accuracy: dict[str, dict[str, float]] = {}
    for model_name, path in paths.items():
        payload = checkpoint.load(path)
        model, task = checkpoint.load_model(payload, NPI), get_task(payload["task"])
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
    if args.json:
        Path(args.json).write_text(json.dumps({"accuracy": accuracy, "seconds": seconds}, indent=2) + "\n")


if __name__ == "__main__":
    main()
