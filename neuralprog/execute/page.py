"""One self-contained HTML page of a run, for `neuralprog trace --html`.

A family's trace view feeds a `Recording` one step at a time: who was on top of the stack, what it did,
how sure the model was, and the machine as the step left it. The recording keeps the steps as columns,
the call tree as a list of calls, and the machine's states as the changes each step made (a 1,000-digit
pad is stored once, then a cell or a pointer per step). `write` puts it in one HTML file with the
viewer's script and style inline: the page makes no network request, and it draws the state of the step
under the cursor on demand, so a run of 10,000 steps stays a small file and a quick page.

A state is a dict of optional parts, which the viewer draws:

- `grid`: rows of cells (pads, arrays, tapes), with `pointers` on them: from a machine's `view(row)`,
  `{"grid": [(name, [cell, ...]), ...], "pointers": [(name, row, column), ...]}`;
- `text`: a caption (a pose, a final reading);
- `image`: pixels, (H, W, 3) uint8 (a car's view), stored once per distinct picture;
- `table`: a tabletop's objects and gripper (NTP), drawn as a top view.
"""

from __future__ import annotations

import base64
import io
import json
import math
import re
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = 1
"""The version of the page's data, for readers of the embedded JSON."""


def machine_view(machine: Any, row: int) -> dict:
    """A machine's state for the page: its `view(row)` when it has one, else its text drawing."""
    if hasattr(machine, "view"):
        return dict(machine.view(row))
    return {"text": machine.render(row)}


class Recording:
    """A run, step by step, as the page shows it (see the module docstring)."""

    def __init__(self, title: str, mode: str, problem: dict, start: dict):
        self.title = title
        self.mode = mode
        self.problem = problem
        self.strings: list[str] = []
        self._string_ids: dict[str, int] = {}
        self.columns: dict[str, list] = {
            "depth": [],
            "program": [],
            "label": [],
            "owner": [],
        }
        self.calls: list[list[int]] = []
        self._open: list[int] = []
        self.images: list[str] = []
        self._image_ids: dict[bytes, int] = {}
        self.rows: list[str] = []
        self.pointers: list[list] = []
        self.start = self._state(start)
        self._last = self.start
        self.changes: list[Any] = []
        self.extra: dict[str, Any] = {}

    def string(self, text: str) -> int:
        """The index of `text` in the page's string table (labels repeat thousands of times)."""
        if text not in self._string_ids:
            self._string_ids[text] = len(self.strings)
            self.strings.append(text)
        return self._string_ids[text]

    def root(self, label: str) -> None:
        """The root call (before the first step)."""
        self.calls.append([-1, -1, self.string(label)])
        self._open = [0]

    def step(
        self,
        depth: int,
        program: str,
        label: str,
        state: dict | None,
        calls: str | None = None,
        end: float | None = None,
        top: list[tuple[str, float]] | None = None,
        **more: Any,
    ) -> None:
        """One step: the frame on top (`depth`, `program`), what it did (`label`, e.g. "ACT WRITE OUT 2";
        `calls` labels the call it made, when it called a program), the machine after it
        (`state`), the end probability and the top scores (name, probability), and any further columns
        (`more`: the NTP scope handed, a note). `state` None: the step left the machine as it was."""
        k = len(self.columns["depth"])
        c = self.columns
        c["depth"].append(depth)
        c["program"].append(self.string(program))
        c["label"].append(self.string(label))
        # the frame a step belongs to: the call opened for its depth (the root, when the tree is flat)
        owner = self._open[depth] if depth < len(self._open) else self._open[-1]
        c["owner"].append(owner)
        if calls is not None:
            del self._open[depth + 1 :]
            self._open.append(len(self.calls))
            self.calls.append([owner, k, self.string(calls)])
        if end is not None:
            c.setdefault("end", []).append(round(1000 * end))
        if top is not None:
            c.setdefault("top", []).append(
                [v for name, p in top for v in (self.string(name), round(1000 * p))]
            )
        for key, value in more.items():
            c.setdefault(key, []).append(value)
        if state is None:
            self.changes.append(0)
            return
        new = self._state(state)
        self.changes.append(_diff(self._last, new))
        self._last = new

    def _state(self, view: dict) -> dict:
        state: dict[str, Any] = {}
        if "grid" in view:
            if not self.rows:  # the layout: row and pointer names, from the first state
                self.rows = [name for name, _ in view["grid"]]
                self.pointers = [[name, row] for name, row, _ in view.get("pointers", [])]
            state["cells"] = [[str(v) for v in cells] for _, cells in view["grid"]]
            state["ptr"] = [int(col) for _, _, col in view.get("pointers", [])]
        if "text" in view:
            state["text"] = view["text"]
        if "image" in view:
            state["image"] = self._image(view["image"])
        if "table" in view:
            state["table"] = view["table"]
        return state

    def _image(self, pixels: np.ndarray) -> int:
        key = pixels.tobytes() + bytes(str(pixels.shape), "ascii")
        if key not in self._image_ids:
            from PIL import Image

            buffer = io.BytesIO()
            Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8)).save(buffer, format="PNG")
            self._image_ids[key] = len(self.images)
            self.images.append("data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode())
        return self._image_ids[key]

    def finish(
        self,
        *,
        output: Any,
        expected: Any,
        halted: bool,
        correct: bool,
        failure: str | None = None,
        departure: dict | None = None,
        scores_title: str = "top programs",
    ) -> dict:
        """The page's data: the run, its verdict and, where an oracle exists, its first departure from
        it (`{"step": k, "expected": what the oracle does there, "title": ...}`)."""
        return {
            "format": FORMAT,
            "title": self.title,
            "mode": self.mode,
            "problem": _plain(self.problem),
            "strings": self.strings,
            "steps": self.columns,
            "calls": self.calls,
            "rows": self.rows,
            "pointers": self.pointers,
            "start": self.start,
            "changes": self.changes,
            "images": self.images,
            "verdict": {
                "output": _text(output),
                "expected": _text(expected),
                "halted": bool(halted),
                "correct": bool(correct),
                "failure": failure,
                "steps": len(self.columns["depth"]),
            },
            "departure": departure,
            "scores_title": scores_title,
            **self.extra,
        }


def _diff(old: dict, new: dict) -> dict | int:
    """What changed from one state to the next: `c` cells [row, column, value], `p` pointer columns,
    and any other part whole; 0 when nothing did."""
    change: dict[str, Any] = {}
    if "cells" in new:
        before = old.get("cells", [])
        cells = []
        for r, row in enumerate(new["cells"]):
            was = before[r] if r < len(before) else []
            if len(was) != len(row):
                change.setdefault("rows", {})[r] = row  # a row that grew or shrank: whole
                continue
            cells += [[r, col, v] for col, (a, v) in enumerate(zip(was, row, strict=True)) if a != v]
        if cells:
            change["c"] = cells
        if new["ptr"] != old.get("ptr"):
            change["p"] = new["ptr"]
    for key in ("text", "image", "table"):
        if key in new and new[key] != old.get(key):
            change[key] = new[key]
    return change or 0


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(_plain(value))


def _plain(value: Any) -> Any:
    """JSON-ready: arrays as lists, non-finite numbers as None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def html(document: dict) -> str:
    """The whole page: the viewer's template with the run's data inline."""
    template = resources.files("neuralprog.execute").joinpath("page.html").read_text(encoding="utf-8")
    # no "<" in the data block: neither "</script>" nor "<!--<script" can end or swallow it
    data = json.dumps(document, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")
    title = document["title"].replace("&", "&amp;").replace("<", "&lt;")
    fill = {"__TITLE__": title, "__RUN_DATA__": data}
    return re.sub("__TITLE__|__RUN_DATA__", lambda m: fill[m.group()], template)  # one pass


def write(document: dict, path: str | Path) -> Path:
    """Write the page atomically (a temporary file renamed into place)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(html(document), encoding="utf-8")
    tmp.replace(path)
    return path
