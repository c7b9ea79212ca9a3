"""What the benchmarks share: the command line every one of them takes (`--quick`, `--out`, `--json`),
the JSON record of its figures (with the command, date and machine), the library imports, and for the
training benchmarks: get a trained model for a preset (NPI or seq2seq), score it, print a table and plot
curves. The scripts import it as `common` (Python puts the script's directory on the path).

Every library name the benchmarks use is imported here, and only here: when a module of the library
moves, this block is the one to update.

Results: a full run writes benchmarks/results/SCRIPT.json (and SCRIPT.png where it plots); `--quick`
runs the same code paths on tiny sizes in seconds and writes into `--out` or a fresh temporary directory,
never into benchmarks/results.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from neuralprog import checkpoint, families
from neuralprog.envs.cars.canonicalize import CarsTask
from neuralprog.envs.cars.render import CarCache
from neuralprog.envs.tabletop.experts import record as record_traces
from neuralprog.envs.tabletop.experts import run_expert
from neuralprog.envs.tabletop.world import MOVE, MOVE_DROP, MOVE_GRASP
from neuralprog.evaluate import SizeResult, evaluate, evaluate_set
from neuralprog.execute import run
from neuralprog.execute.ntp import run as run_ntp
from neuralprog.frames import FrameData, batch_loss
from neuralprog.models.baselines import Seq2Seq
from neuralprog.models.npi import NPI, step_losses
from neuralprog.models.ntp import NTP
from neuralprog.multitask import MultiTask
from neuralprog.presets import (
    PRESETS,
    Preset,
    RLNTMPreset,
    Seq2SeqPreset,
    get_preset,
    override,
    same_preset,
)
from neuralprog.registry import get_task, tape_task
from neuralprog.sweep import EvalSpec, SweepSpec, run_sweep
from neuralprog.tasks import Task
from neuralprog.traces import frames, generate
from neuralprog.train import reinforce, supervised
from neuralprog.train.common import CHECKPOINT_NAME
from neuralprog.train.extend import ExtendConfig, extend
from neuralprog.train.ntp import batch_of, to_frames, training_problems
from neuralprog.train.ntp import losses as ntp_losses
from neuralprog.train.ntp import model_config as ntp_model_config
from neuralprog.train.supervised import build_model
from neuralprog.verify import verify

__all__ = [
    "CHECKPOINT_NAME",
    "MOVE",
    "MOVE_DROP",
    "MOVE_GRASP",
    "NPI",
    "NTP",
    "PRESETS",
    "RESULTS",
    "CarCache",
    "CarsTask",
    "EvalSpec",
    "ExtendConfig",
    "FrameData",
    "MultiTask",
    "Preset",
    "RLNTMPreset",
    "Seq2Seq",
    "Seq2SeqPreset",
    "SizeResult",
    "SweepSpec",
    "Task",
    "accuracy",
    "batch_loss",
    "batch_of",
    "build_model",
    "checkpoint",
    "evaluate",
    "evaluate_set",
    "extend",
    "frames",
    "generate",
    "get_preset",
    "get_task",
    "info",
    "load",
    "machine",
    "ntp_losses",
    "ntp_model_config",
    "obtain",
    "override",
    "parse",
    "plot",
    "preset",
    "record",
    "record_traces",
    "reinforce",
    "run",
    "run_expert",
    "run_ntp",
    "run_sweep",
    "same_preset",
    "scratch",
    "step_losses",
    "supervised",
    "table",
    "tape_task",
    "to_frames",
    "training_problems",
    "verify",
    "write_json",
]

RESULTS = Path(__file__).resolve().parent / "results"
"""Where full runs record their figures: SCRIPT.json (and SCRIPT.png)."""

Log = Callable[[str], None]


# --- the command line and the JSON record every benchmark shares ---------------------------------------


def parse(parser: argparse.ArgumentParser, quick: dict[str, Any]) -> argparse.Namespace:
    """Add the options every benchmark takes and parse the command line. With --quick, each option the
    command line leaves out takes its value from `quick` (tiny sizes: the same code paths in seconds),
    torch runs on one thread, and the results go to --out or a fresh temporary directory, never into
    benchmarks/results. Sets `args.name` (the script's name), `args.out` (the results directory) and
    `args.json`."""
    group = parser.add_argument_group("results")
    group.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes: check in seconds that the benchmark runs (results into --out or a temp dir)",
    )
    group.add_argument(
        "--out",
        "--results",
        dest="out",
        type=Path,
        metavar="DIR",
        help=f"directory of the results: NAME.json (and the plot) (default: {_relative(RESULTS)})",
    )
    group.add_argument("--json", type=Path, metavar="FILE", help="the JSON record (default: DIR/NAME.json)")
    args = parser.parse_args()
    if args.quick:
        unknown = set(quick) - set(vars(args))
        assert not unknown, f"quick settings for no option: {unknown}"
        parser.set_defaults(**quick)
        args = parser.parse_args()
        # Tiny models are fastest on one thread, and a second one waiting on a busy core slows every op
        # a hundredfold (a script's --threads, when it has one, still applies after this).
        torch.set_num_threads(1)
    args.started = time.perf_counter()
    args.name = Path(sys.argv[0]).stem
    if args.out is None:
        args.out = Path(tempfile.mkdtemp(prefix=f"{args.name}-quick-")) if args.quick else RESULTS
    args.json = args.json or args.out / f"{args.name}.json"
    if args.quick:
        for path in (args.out, args.json):
            if path.resolve().is_relative_to(RESULTS):
                parser.error(f"--quick writes nothing into {_relative(RESULTS)} (the recorded full results)")
    return args


def output(args: argparse.Namespace, option: str | Path | None, suffix: str) -> Path:
    """The path an output option names, else DIR/NAME`suffix` (the plot: '.png'); its directory is
    created."""
    path = Path(option) if option else args.out / f"{args.name}{suffix}"
    if args.quick and path.resolve().is_relative_to(RESULTS):
        raise SystemExit(f"--quick writes nothing into {_relative(RESULTS)} (the recorded full results)")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def record(args: argparse.Namespace, figures: Any, **settings: Any) -> Path:
    """Write the benchmark's JSON record: what ran (command, date, machine, settings: the parsed options
    and `settings`) and `figures`, every figure it printed. Returns the path (also told on stderr)."""
    options = {k: v for k, v in vars(args).items() if k not in ("started", "name")}
    options.update(out=_relative(args.out), json=_relative(args.json))
    payload = {
        "benchmark": args.name,
        "command": shlex.join(["python", *sys.argv]),
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "quick": args.quick,
        "seconds": round(time.perf_counter() - args.started, 1),
        "machine": machine(),
        "settings": {**options, **settings},
        "figures": figures,
    }
    write_json(args.json, payload)
    info(f"results: {args.json}")
    return args.json


def machine() -> dict[str, Any]:
    """The machine the figures come from, and the code."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "commit": _commit(),
    }


def write_json(path: str | Path, payload: Any) -> None:
    """Write `payload` as JSON all at once: a reader (or a crash) never sees half a file. Paths, tuples
    and dataclasses are written as strings, lists and objects."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(payload, indent=2, default=_jsonable) + "\n"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # beside it: os.replace stays on one disk
    try:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def scratch(workdir: str | Path | None) -> Iterator[Path]:
    """`workdir` when given (runs there are kept and reused), else a temporary directory removed after."""
    if workdir is not None:
        yield Path(workdir)
        return
    with tempfile.TemporaryDirectory(prefix="neuralprog-bench-") as tmp:
        yield Path(tmp)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    if hasattr(value, "item"):  # numpy and torch scalars
        return value.item()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or platform.machine()


def _commit() -> str | None:
    """The checkout's commit, '+' when it has uncommitted changes; None outside a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+" if dirty else "")


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# --- training and scoring presets ----------------------------------------------------------------------


def preset(name: str, assignments: list[str]) -> Preset | Seq2SeqPreset | RLNTMPreset:
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


def kept(path: Path, compute: Callable[[], Any]) -> Any:
    """A result kept as JSON at `path` and reused; computed (and written atomically) when absent, so an
    interrupted benchmark resumes with what it had finished."""
    if path.exists():
        return json.loads(path.read_text())
    result = compute()
    write_json(path, result)
    return result


def obtain(
    chosen: Preset | Seq2SeqPreset | RLNTMPreset, out_dir: Path, log: Log, verbose: bool = False
) -> Path:
    """The checkpoint of `chosen` (NPI or seq2seq) trained into `out_dir`: reused when a finished run of
    the very same preset is there, else trained (an unfinished NPI run resumes)."""
    if isinstance(chosen, RLNTMPreset):
        raise SystemExit(f"{chosen.name} is an RL-NTM preset; this benchmark takes NPI and seq2seq ones")
    path = out_dir / CHECKPOINT_NAME
    resume = False
    if path.exists():
        payload = checkpoint.load(path, kind=None)
        if not same_preset(payload.get("preset"), chosen):
            raise SystemExit(f"{path} was trained with other settings; delete it or choose another --workdir")
        if payload.get("finished"):
            log(f"reusing {path}")
            return path
        resume = True
    log(f"training {chosen.name} into {out_dir}")
    quiet = log if verbose else _drop
    train = families.family_of_preset(chosen).train
    return train(chosen, out_dir, resume=resume, log=quiet, progress=verbose)


def load(path: str | Path) -> tuple[Any, Any, dict]:
    """Model, task and checkpoint payload, whichever family's model the checkpoint holds (checked
    against its task)."""
    loaded = families.load(path)
    return loaded.model, loaded.task, loaded.payload


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
