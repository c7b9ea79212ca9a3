"""Neural Task Programming, Fig. 5 and Fig. 6 (Xu et al. 2018): NTP and its four baselines.

Fig. 5, block stacking: success against the number of training tasks (50 to 1,000, 100 trials each) on
seen tasks, unseen tasks and permuted tasks (the training towers built in another order).
Fig. 6, order fulfillment: success against the number of objects (4, 8, 20, 40) on the 252 maps not
trained on, after training on the 4 covering maps with one object per category.

Every model is its preset (`ntp-stacking`, `ntp-stacking-noscope`, `-gru`, `-flat`, `-flat-gru`; the
same for `ntp-ordering`): the same encoder sizes, training budget and curriculum. Each point runs
`--trials` test trials in lockstep and counts wrong picks and wrong places too.

    python benchmarks/ntp_figures.py                        # both figures, every model (hours on 2 cores)
    python benchmarks/ntp_figures.py --figures 6            # order fulfillment only
    python benchmarks/ntp_figures.py --models ntp,flat --sizes 100,1000
    python benchmarks/ntp_figures.py --report               # the figures of the finished runs only
    python benchmarks/ntp_figures.py --quick                # tiny runs: checks in seconds that it runs

`--backend mujoco` runs the test trials in physics (`--video`: with demonstrations read off filmed
video); the models still train on the traces their presets say (`--set data.backend=mujoco` records
them in physics too).

Runs live in `--workdir` (default runs/ntp-figures): a finished run of the same preset is reused, an
unfinished one resumes, and each test point's result is kept beside its run, so an interrupted sweep
continues where it stopped. Writes benchmarks/results/ntp_figures.json and ntp_figures.png
(`--backend mujoco`: ntp_figures_mujoco.json and .png).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import common
import numpy as np
from common import checkpoint, evaluate_set, get_task, info, load, obtain

MODELS = {
    "ntp": "NTP",
    "noscope": "NTP (no scope)",
    "gru": "NTP (GRU)",
    "flat": "Flat",
    "flat-gru": "Flat (GRU)",
}
SUFFIX = {"ntp": "", "noscope": "-noscope", "gru": "-gru", "flat": "-flat", "flat-gru": "-flat-gru"}
SPLITS = ("seen", "unseen", "permuted")
UNFINISHED: list[str] = []
"""With --report: the runs left out because they have not finished."""
OBJECTS_PER_CATEGORY = (1, 2, 5, 10)  # 4, 8, 20 and 40 objects

QUICK = {
    "report": False,
    "models": "ntp,flat",
    "sizes": "50",
    "trials": 6,
    "workdir": None,
    "set": [
        "train.updates=4",
        "data.trials_per_task=2",
        "train.eval_every=2",
        "train.validation_problems=2",
        "train.threads=1",
    ],
}


def point(run_dir: Path, name: str, compute) -> dict:
    """A test point's result, kept in the run directory and reused."""
    return common.kept(run_dir / f"test-{name}.json", compute)


def train(preset_name: str, assignments: list[str], run_dir: Path, report: bool) -> tuple[Path, dict] | None:
    """The run's checkpoint and training figures; with `report`, None for a run not finished (it is
    listed as unfinished, not trained)."""
    chosen = common.preset(preset_name, assignments)
    started = time.perf_counter()
    if report:
        done = run_dir / "checkpoint.pt"
        same = done.exists() and common.same_preset(checkpoint.load(done).get("preset"), chosen)
        if not (same and checkpoint.load(done).get("finished")):
            UNFINISHED.append(str(run_dir))
            return None
    path = obtain(chosen, run_dir, info)
    payload = checkpoint.load(path)
    return path, {
        "updates": payload["update"],
        "train_seconds": round(payload["elapsed"], 1),
        "wall_seconds": round(time.perf_counter() - started, 1),
    }


def figure5(args: argparse.Namespace, workdir: Path) -> list[dict]:
    stacking = get_task("block-stacking").using(args.backend, args.video)
    rows = []
    for model in args.models:
        for size in args.sizes:
            name = f"ntp-stacking{SUFFIX[model]}"
            run_dir = workdir / "fig5" / f"{name}-tasks{size}"
            trained_run = train(name, [*args.set, f"data.train_tasks={size}"], run_dir, args.report)
            if trained_run is None:
                continue
            path, trained = trained_run
            net, _, _ = load(path)
            for split in SPLITS:
                problems = stacking.test_trials(split, size, args.trials, seed=1)

                def compute(problems=problems, net=net) -> dict:
                    return evaluate_set(net, stacking, problems).to_json()

                result = point(run_dir, f"{split}-{args.trials}{_mode(args)}", compute)
                rows.append(
                    {"model": MODELS[model], "train_tasks": size, "split": split, **result, **trained}
                )
                info(f"fig5 {MODELS[model]:<15} {size:>5} tasks  {split:<9} {100 * result['accuracy']:5.1f}%")
    return rows


def figure6(args: argparse.Namespace, workdir: Path) -> list[dict]:
    ordering = get_task("order-fulfillment").using(args.backend, args.video)
    rows = []
    for model in args.models:
        name = f"ntp-ordering{SUFFIX[model]}"
        run_dir = workdir / "fig6" / name
        trained_run = train(name, args.set, run_dir, args.report)
        if trained_run is None:
            continue
        path, trained = trained_run
        net, _, _ = load(path)
        for per_category in OBJECTS_PER_CATEGORY:
            rng = np.random.default_rng([1, per_category])
            problems = [ordering.sample(rng, per_category) for _ in range(args.trials)]

            def compute(problems=problems, net=net) -> dict:
                return evaluate_set(net, ordering, problems).to_json()

            result = point(run_dir, f"objects{4 * per_category}-{args.trials}{_mode(args)}", compute)
            rows.append({"model": MODELS[model], "objects": 4 * per_category, **result, **trained})
            info(f"fig6 {MODELS[model]:<15} {4 * per_category:>3} objects  {100 * result['accuracy']:5.1f}%")
    return rows


def _mode(args: argparse.Namespace) -> str:
    """The suffix of a test point run in physics (kinematic points keep their plain names)."""
    return "" if args.backend == "kinematic" else f"-{args.backend}" + ("-video" if args.video else "")


def plot(fig5: list[dict], fig6: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(s, [r for r in fig5 if r["split"] == s], "train_tasks") for s in SPLITS if fig5]
    panels += [("order fulfillment", fig6, "objects")] if fig6 else []
    fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 3.2), squeeze=False)
    for ax, (title, rows, x) in zip(axes[0], panels, strict=True):
        for model in MODELS.values():
            mine = sorted((r[x], r["accuracy"]) for r in rows if r["model"] == model)
            if mine:
                ax.plot([a for a, _ in mine], [100 * b for _, b in mine], "o-", label=model, ms=3)
        ax.set_xscale("log")
        ticks = sorted({r[x] for r in rows})
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()
        ax.set_ylim(-2, 102)
        ax.set_xlabel("training tasks" if x == "train_tasks" else "objects")
        ax.set_title(f"block stacking, {title} tasks" if x == "train_tasks" else title, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("success (%)")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _cell(result: dict) -> str:
    counts = result["counts"]
    return f"{100 * result['accuracy']:.1f}% ({counts.get('wrong_pick', 0)}/{counts.get('wrong_place', 0)})"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--figures", default="5,6", help="which figures: 5, 6 or 5,6")
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated: {', '.join(MODELS)}")
    parser.add_argument("--sizes", default="50,100,200,400,700,1000", help="Fig. 5 training-task counts")
    parser.add_argument("--trials", type=int, default=500, help="test trials per point")
    parser.add_argument("--workdir", default="runs/ntp-figures", help="runs are kept and reused here")
    parser.add_argument(
        "--report",
        action="store_true",
        help="train nothing: the figures of the finished runs, the others listed",
    )
    parser.add_argument("--set", action="append", default=[], metavar="[PRESET:]SECTION.FIELD=VALUE")
    parser.add_argument(
        "--backend", choices=["kinematic", "mujoco"], default="kinematic", help="where the test trials run"
    )
    parser.add_argument("--video", action="store_true", help="mujoco: demonstrations read off filmed video")
    args = common.parse(parser, QUICK)
    if _mode(args) and args.json == args.out / f"{args.name}.json":  # keep the kinematic figures' record
        args.name += _mode(args).replace("-", "_")
        args.json = args.out / f"{args.name}.json"
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in args.models if m not in MODELS]
    if unknown:
        parser.error(f"unknown models {unknown}; choose from {', '.join(MODELS)}")
    args.sizes = [int(s) for s in args.sizes.split(",")]
    figures = {f.strip() for f in args.figures.split(",")}
    with common.scratch(args.workdir) as workdir:
        fig5 = figure5(args, workdir) if "5" in figures else []
        fig6 = figure6(args, workdir) if "6" in figures else []
    if fig5:
        print(
            "\nFig. 5, block stacking: success by training tasks (wrong picks / wrong places in all trials)\n"
        )
        header = ["model", "tasks", *SPLITS]
        table = []
        for model in MODELS.values():
            for size in args.sizes:
                cells = {r["split"]: r for r in fig5 if r["model"] == model and r["train_tasks"] == size}
                if cells:
                    table.append([model, str(size)] + [_cell(cells[s]) for s in SPLITS])
        print(common.table(header, table))
    if fig6:
        print("\nFig. 6, order fulfillment: success by objects on the 252 unseen maps\n")
        header = ["model", *(str(4 * n) for n in OBJECTS_PER_CATEGORY)]
        table = [
            [model] + [f"{100 * r['accuracy']:.1f}%" for r in fig6 if r["model"] == model]
            for model in MODELS.values()
            if any(r["model"] == model for r in fig6)
        ]
        print(common.table(header, table))
    picture = common.output(args, None, ".png")
    plot(fig5, fig6, picture)
    info(f"plot: {picture}")
    if UNFINISHED:
        info(f"not finished (left out): {', '.join(UNFINISHED)}")
    common.record(args, {"fig5": fig5, "fig6": fig6, "plot": picture, "unfinished": UNFINISHED})


if __name__ == "__main__":
    main()
