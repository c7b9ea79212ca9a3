"""What the sorting benchmarks share: get a trained model for a preset (NPI or seq2seq), score it, print a
table and plot curves. The scripts import it as `common` (Python puts the script's directory on the path).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from neuralprog import checkpoint
from neuralprog.evaluate import SizeResult, evaluate
from neuralprog.models.baselines import Seq2Seq
from neuralprog.models.npi import NPI
from neuralprog.presets import PRESETS, Preset, Seq2SeqPreset, get_preset, override
from neuralprog.registry import get_task
from neuralprog.tasks import Task
from neuralprog.train import seq2seq, supervised

Log = Callable[[str], None]


def preset(name: str, assignments: list[str]) -> Preset | Seq2SeqPreset:
    """A preset with the `--set` assignments meant for it: 'PRESET:SECTION.FIELD=VALUE' applies to that
    preset only, 'SECTION.FIELD=VALUE' to every preset."""
    mine = []
    for assignment in assignments:
        if ":" not in assignment.partition("=")[0]:  # no prefix (a value such as 2:20 may hold a colon)
            mine.append(assignment)
            continue
        target, _, rest = assignment.partition(":")
        if target not in PRESETS:
            raise SystemExit(f"--set {assignment}: no preset {target!r}; presets: {', '.join(PRESETS)}")
        if target == name:
            mine.append(rest)
    return override(get_preset(name), mine)


def obtain(chosen: Preset | Seq2SeqPreset, out_dir: Path, log: Log, verbose: bool = False) -> Path:
    """The checkpoint of `chosen` trained into `out_dir`: reused when a finished run of the very same
    preset is there, else trained (an unfinished NPI run resumes)."""
    path = out_dir / supervised.CHECKPOINT_NAME
    resume = False
    if path.exists():
        payload = checkpoint.load(path, kind=None)
        if payload.get("preset") != json.loads(json.dumps(asdict(chosen))):
            raise SystemExit(f"{path} was trained with other settings; delete it or choose another --workdir")
        if payload.get("finished"):
            log(f"reusing {path}")
            return path
        resume = True
    log(f"training {chosen.name} into {out_dir}")
    quiet = log if verbose else _drop
    if isinstance(chosen, Seq2SeqPreset):
        return seq2seq.train_preset(chosen, out_dir, log=quiet)
    return supervised.train(chosen, out_dir, resume=resume, log=quiet, progress=verbose)


def load(path: str | Path) -> tuple[NPI | Seq2Seq, Task, dict]:
    """Model, task and checkpoint payload, whichever kind of model the checkpoint holds."""
    payload = checkpoint.load(path, kind=None)
    if checkpoint.model_kind(payload) == "seq2seq":
        return checkpoint.load_model(payload, Seq2Seq), get_task(payload["task"]), payload
    return checkpoint.load_model(payload, NPI), get_task(payload["task"]), payload


def accuracy(model: NPI | Seq2Seq, task: Task, size: int, n: int, seed: int, batch: int) -> SizeResult:
    """Exact match on `n` random problems of `size`: the same problems for every model of the same seed."""
    return evaluate(model, task, [size], n, seed=seed, batch=batch)[0]


def table(header: list[str], rows: list[list[str]]) -> str:
    """A markdown table."""
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def plot(
    x: list[int], series: dict[str, list[float]], path: str | Path, xlabel: str, title: str, log2x: bool
) -> None:
    """Accuracy curves (fractions, drawn as %) of several models against a common x axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for label, ys in series.items():
        ax.plot(x, [100 * y for y in ys], "o-", label=label)
    if log2x:
        ax.set_xscale("log", base=2)
        ax.set_xticks(x, [str(v) for v in x])
    ax.set_ylim(-2, 102)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("exact-match accuracy (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def info(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _drop(text: str) -> None:
    pass
