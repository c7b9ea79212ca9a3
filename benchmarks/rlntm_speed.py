"""Wall time of one RL-NTM update (batch 200, every problem at the top size: target length 20, or
phrases of 8 for RepeatCopy), measured through the trainer itself with the curriculum off.

    python benchmarks/rlntm_speed.py                       # every task, direct access, 1 and 2 threads
    python benchmarks/rlntm_speed.py --tasks copy --threads 1 --updates 200
    python benchmarks/rlntm_speed.py --quick               # tiny sizes: checks in seconds that it runs

Each run trains `--updates` updates into a temporary directory; the figure is the median time per
update over all but the first 10 (warm-up), from the run's metrics.jsonl: on a shared machine, slow
spells move the mean by tens of percent from one run to the next. Writes the figures to
benchmarks/results/rlntm_speed.json (see --out, --json).
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics

import common
import torch

WARMUP = 10
"""Updates left out of the median."""

QUICK = {
    "tasks": "copy",
    "threads": "1",
    "updates": WARMUP + 3,
    "set": ["train.batch_size=10", "train.top_size=4"],
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", default="copy,duplicated-input,reverse,repeat-copy,forward-reverse")
    parser.add_argument("--controller", default="direct", choices=["direct", "lstm"])
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--updates", type=int, default=110)
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE")
    args = common.parse(parser, QUICK)
    if args.updates <= WARMUP + 1:
        parser.error(f"--updates must be over {WARMUP + 1}: the first {WARMUP} are warm-up")
    machine = common.machine()
    print(f"{machine['cpu']}, torch {torch.__version__}, {machine['threads']} threads available")
    thread_counts = args.threads.split(",")
    rows, records, presets = [], [], {}
    for task in args.tasks.split(","):
        name = f"rlntm-{task}" + ("" if args.controller == "direct" else "-lstm")
        row = [task]
        record: dict = {"task": task, "preset": name, "ms_per_update": {}}
        for threads in thread_counts:
            preset = common.override(
                common.get_preset(name),
                [
                    *args.set,
                    "train.curriculum=false",
                    "train.eval_every=1000000",  # no solved checks among the timed updates
                    f"train.updates={args.updates}",
                    f"train.threads={threads}",
                ],
            )
            assert isinstance(preset, common.RLNTMPreset)
            presets[f"{name} threads={threads}"] = preset
            with common.scratch(None) as tmp:
                common.reinforce.train(preset, tmp / "run", log=common._drop, progress=False)
                lines = (tmp / "run" / "metrics.jsonl").read_text().splitlines()
            metrics = [json.loads(line) for line in lines]
            times = [m["time"] for m in metrics[WARMUP - 1 :]]
            per_update = statistics.median(b - a for a, b in itertools.pairwise(times))
            steps = metrics[-1]["train/steps"]
            row.append(f"{1000 * per_update:.1f} ms")
            record["ms_per_update"][threads] = 1000 * per_update
        row.insert(1, str(steps))
        record["steps_per_episode"] = steps
        rows.append(row)
        records.append(record)
        common.info(" ".join(row))
    header = [
        "task",
        "steps per episode",
        *[f"{t} thread{'s' if t != '1' else ''}" for t in thread_counts],
    ]
    print(common.table(header, rows))
    common.record(args, {"rows": records}, presets=presets)


if __name__ == "__main__":
    main()
