"""What every trainer shares: the run directory, resuming, progress output, metrics and errors.

A run directory holds config.json (the preset with its overrides), metrics.jsonl (one line per update)
and checkpoint.pt (written atomically every few updates and at the end). `open_run` prepares it, or
checks that a resumed run is the same run.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from neuralprog import checkpoint

CHECKPOINT_NAME = "checkpoint.pt"


class TrainingError(RuntimeError):
    """A run that cannot start or cannot go on (exists already, diverged...); the message says why."""


def open_run(out_dir: Path, preset_json: dict, task: str, kind: str, resume: bool) -> dict | None:
    """Prepare a run directory and write its config.json. Resuming returns the checkpoint to continue
    from, which must be of the same preset (only train.updates may change); a new run needs a new or
    empty directory."""
    ckpt_path = out_dir / CHECKPOINT_NAME
    state = None
    if resume:
        if not ckpt_path.exists():
            raise TrainingError(f"nothing to resume: {ckpt_path} does not exist")
        state = checkpoint.load(ckpt_path, task=task, kind=kind)
        if not same_run(state.get("preset"), preset_json):
            raise TrainingError(
                f"{ckpt_path} was trained with another preset or overrides; resume with the same ones"
                " (only train.updates may change, to extend a run)"
            )
    elif out_dir.exists() and any(out_dir.iterdir()):
        raise TrainingError(f"{out_dir} already exists; pass --resume to continue it or choose another --out")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.json").write_text(json.dumps(preset_json, indent=2) + "\n")
    return state


def preset_json(preset: Any) -> dict:
    """A preset as plain JSON values (what config.json and checkpoints hold)."""
    return json.loads(json.dumps(asdict(preset)))


def same_run(saved: dict | None, wanted: dict) -> bool:
    """Same preset and overrides, except train.updates. A field the saved run's version did not have yet
    is left out, so a run started before an option was added still resumes."""
    if saved is None:
        return False

    def known(preset: dict) -> dict:
        return {
            section: {k: v for k, v in fields.items() if k in saved.get(section, {}) and k != "updates"}
            if isinstance(fields, dict)
            else fields
            for section, fields in preset.items()
        }

    return known(saved) == known(wanted)


def truncate_metrics(path: Path, update: int) -> None:
    """Drop metric lines written after the checkpoint we resume from (they will be written again)."""
    if not path.exists():
        return
    keep = [line for line in path.read_text().splitlines() if json.loads(line).get("update", 0) <= update]
    path.write_text("".join(line + "\n" for line in keep))


class MetricsLog:
    """metrics.jsonl, one JSON line per logged update, and, when the tensorboard package is installed
    and `tensorboard` is on, TensorBoard event files under out_dir/tensorboard with the same scalars
    (plus the seconds per update). A resumed run (`resumed_at` > 0) drops what was logged after its
    checkpoint from both."""

    def __init__(self, out_dir: Path, resumed_at: int, tensorboard: bool, log: Callable[[str], None]):
        path = out_dir / "metrics.jsonl"
        truncate_metrics(path, resumed_at)
        self.file = path.open("a")
        self.writer: Any = None
        self.last: tuple[int, float] | None = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # the tensorboard extra is not installed
                return
            self.writer = SummaryWriter(
                str(out_dir / "tensorboard"), purge_step=resumed_at + 1 if resumed_at else None
            )
            log(f"TensorBoard: tensorboard --logdir {out_dir}")

    def write(self, row: dict[str, Any]) -> None:
        self.file.write(json.dumps(row) + "\n")
        if self.writer is None:
            return
        update = row["update"]
        for key, value in row.items():
            if key not in ("update", "time") and isinstance(value, int | float):
                self.writer.add_scalar(key, value, update)
        if "time" in row:
            self.writer.add_scalar("time/elapsed_seconds", row["time"], update)
            if self.last is not None and update > self.last[0]:
                seconds = (row["time"] - self.last[1]) / (update - self.last[0])
                self.writer.add_scalar("time/update_seconds", seconds, update)
            self.last = (update, row["time"])

    def flush(self) -> None:
        self.file.flush()
        if self.writer is not None:
            self.writer.flush()

    def close(self) -> None:
        self.file.close()
        if self.writer is not None:
            self.writer.close()


class Progress:
    """A rich progress bar with loss, accuracy and ETA on a terminal; plain periodic lines otherwise."""

    def __init__(self, total: int, done: int, enabled: bool, log: Callable[[str], None]):
        import sys

        self.total, self.log = total, log
        self.live = enabled and sys.stderr.isatty()
        self.enabled = enabled
        self.started, self.start_update = time.perf_counter(), done
        if self.live:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(
                TextColumn("update {task.completed}/{task.total}"),
                BarColumn(),
                TextColumn("loss {task.fields[loss]:.4f} acc {task.fields[acc]:.3f}"),
                TimeRemainingColumn(),
                transient=True,
            )
            self.task = self.progress.add_task("train", total=total, completed=done, loss=math.nan, acc=0.0)
            self.progress.start()

    def advance(self, update: int, loss: float, acc: float) -> None:
        self.last = (loss, acc)
        if self.live:
            self.progress.update(self.task, completed=update, loss=loss, acc=acc)

    def note(self, update: int, text: str) -> None:
        if not self.enabled:
            return
        rate = (update - self.start_update) / max(time.perf_counter() - self.started, 1e-9)
        eta = (self.total - update) / max(rate, 1e-9)
        line = f"update {update}/{self.total}  loss {self.last[0]:.4f}  {text}  eta {eta:.0f}s"
        if self.live:
            self.progress.console.print(line)
        else:
            self.log(line)

    def close(self) -> None:
        if self.live:
            self.progress.stop()
