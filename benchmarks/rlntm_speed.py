"""Wall time of one RL-NTM update (batch 200, every problem at the top size: target length 20, or
phrases of 8 for RepeatCopy), measured through the trainer itself with the curriculum off.

    python benchmarks/rlntm_speed.py                       # every task, direct access, 1 and 2 threads
    python benchmarks/rlntm_speed.py --tasks copy --threads 1 --updates 200

Each run trains `--updates` updates into a temporary directory; the figure is the median time per
update over all but the first 10 (warm-up), from the run's metrics.jsonl: on a shared machine, slow
spells move the mean by tens of percent from one run to the next.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import statistics
import tempfile
from pathlib import Path

import common
import torch

from neuralprog.presets import get_preset, override
from neuralprog.train import reinforce


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", default="copy,duplicated-input,reverse,repeat-copy,forward-reverse")
    parser.add_argument("--controller", default="direct", choices=["direct", "lstm"])
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--updates", type=int, default=110)
    args = parser.parse_args()
    cpu = platform.processor() or platform.machine()
    print(f"{cpu}, torch {torch.__version__}, {torch.get_num_threads()} threads available")
    rows = []
    for task in args.tasks.split(","):
        name = f"rlntm-{task}" + ("" if args.controller == "direct" else "-lstm")
        row = [task]
        for threads in args.threads.split(","):
            preset = override(
                get_preset(name),
                [
                    "train.curriculum=false",
                    "train.eval_every=1000000",  # no solved checks among the timed updates
                    f"train.updates={args.updates}",
                    f"train.threads={threads}",
                ],
            )
            with tempfile.TemporaryDirectory() as tmp:
                reinforce.train(preset, Path(tmp) / "run", log=common._drop, progress=False)
                metrics = [
                    json.loads(line)
                    for line in (Path(tmp) / "run" / "metrics.jsonl").read_text().splitlines()
                ]
            times = [row["time"] for row in metrics[9:]]
            per_update = statistics.median(b - a for a, b in itertools.pairwise(times))
            steps = metrics[-1]["train/steps"]
            row.append(f"{1000 * per_update:.1f} ms")
        row.insert(1, str(steps))
        rows.append(row)
        common.info(" ".join(row))
    header = [
        "task",
        "steps per episode",
        *[f"{t} thread{'s' if t != '1' else ''}" for t in args.threads.split(",")],
    ]
    print(common.table(header, rows))


if __name__ == "__main__":
    main()
