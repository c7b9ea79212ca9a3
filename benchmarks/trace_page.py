"""Trace pages (`neuralprog trace --html`): how big and how quick a long run's page is, and a screenshot
of each family's page for the README.

1. Long runs, recorded by the oracle (no model needed): bubble sort of 30 digits (10,711 steps) and the
   addition of two 1,000-digit numbers (14,010 steps). Per run: seconds to record it, the file's size,
   the first contentful paint in headless Chromium (median of --loads fresh loads, opened at a step deep
   in the run), and the milliseconds the page takes to draw one step (100 steps in a row, in the page).
2. Screenshots (--shots DIR, PNGs of 1000 x 560 pixels) of one page per family, from the checkpoints
   given with --checkpoint NAME=PATH (names: addition, sort, rlntm, ntp, cars). A family without one shows
   its oracle's run instead (NPI, NTP, cars); RL-NTM, which has no oracle, is skipped.

    python benchmarks/trace_page.py --shots docs/img --checkpoint addition=runs/addition/checkpoint.pt \\
        --checkpoint rlntm=runs/rlntm-reverse-fast/checkpoint.pt
    python benchmarks/trace_page.py --quick      # small runs, no screenshots of cars

Needs Debian's chromium (/usr/bin/chromium) and playwright (make setup); without them the pages are
still written and measured in size, and the browser figures are null. Writes
benchmarks/results/trace_page.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import common
import numpy as np
from PIL import Image

from neuralprog.execute import page as trace_page
from neuralprog.families import get_family, load
from neuralprog.registry import get_task

QUICK = {"digits": 20, "length": 8, "loads": 1, "families": "addition,sort,ntp"}

CHROMIUM = "/usr/bin/chromium"
PAINT = "performance.getEntriesByType('paint').find(e => e.name === 'first-contentful-paint')?.startTime"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-sync",
    "--disable-background-networking",
    "--disable-component-update",
]

SHOTS: dict[str, tuple[str, str, dict, int]] = {
    "addition": ("npi", "addition", {"a": "70956", "b": "48629"}, 24),
    "sort": ("npi", "sort", {"array": [5, 2, 8, 1, 9, 3]}, 80),
    "rlntm": ("rlntm", "", {"input": [3, 14, 7, 2, 9, 11, 5, 20]}, 6),
    "ntp": ("ntp", "block-stacking", {"towers": [[0, 3], [5, 1, 2]], "seed": 3}, 16),
    "cars": ("npi", "cars", {"model": 1, "azimuth": 45, "elevation": 30, "target_azimuth": 0,
                             "target_elevation": 15}, 4),
}  # fmt: skip
"""Family -> (model kind, task (its checkpoint's for RL-NTM), problem, the step to show)."""


def page_data(name: str, checkpoint: str | None) -> dict | None:
    """A family's page: the checkpoint's model's run, else the oracle's (None for RL-NTM without one)."""
    kind, task_name, problem, _ = SHOTS[name]
    if checkpoint is not None:
        loaded = load(checkpoint)
        task = loaded.task
        if name == "rlntm" and task.name == "repeat-copy":
            problem = {**problem, "repeat": 2}
        title = f"{task.name}: the model of {checkpoint}"
        return loaded.family.page(loaded.model, task, task.parse(problem), title=title)
    if name == "rlntm":
        return None
    task = get_task(task_name)
    view = get_family(kind).page
    return view(None, task, task.parse(problem), oracle=True, title=f"{task.name}: the oracle")


def long_runs(args: argparse.Namespace) -> list[tuple[str, dict]]:
    rng = np.random.default_rng(0)
    sort, addition = get_task("sort"), get_task("addition")
    return [
        (f"sort of {args.length}", sort.parse({"array": rng.integers(0, 10, args.length).tolist()})),
        (
            f"addition of {args.digits} digits",
            addition.parse({"a": "9" * args.digits, "b": "1" * args.digits}),
        ),
    ]


def first_paint(page: Any) -> float:
    """The first contentful paint in ms, polled from here: the entry comes just after the paint, and the
    page's Content-Security-Policy forbids the evaluated strings Playwright's own waiting uses."""
    for _ in range(100):
        paint = page.evaluate(PAINT)
        if paint is not None:
            return float(paint)
        time.sleep(0.05)
    raise RuntimeError("the page never recorded a first contentful paint")


def browser_figures(browser: Any, path: Path, steps: int, loads: int) -> dict:
    """First contentful paint (ms, median of `loads`) opened at 90% of the run, and ms per step drawn."""
    at = int(steps * 0.9)
    paints = []
    for _ in range(loads):
        page = browser.new_page(viewport={"width": 1000, "height": 560})
        page.goto(f"{path.as_uri()}#step={at}")
        page.wait_for_selector("body[data-ready]")
        paints.append(first_paint(page))
        if len(paints) < loads:
            page.close()
    count = min(100, steps - at)
    per_step = page.evaluate(
        f"""() => {{ const t = performance.now();
            for (let k = {at}; k < {at + count}; k++) window.neuralprogTrace.go(k + 1);
            return (performance.now() - t) / {count}; }}"""
    )
    page.close()
    return {"first_paint_ms": round(statistics.median(paints), 1), "ms_per_step": round(per_step, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", action="append", default=[], metavar="NAME=PATH")
    parser.add_argument("--shots", type=Path, help="write a screenshot of each family's page here")
    parser.add_argument("--families", default=",".join(SHOTS), help="which families' pages to write")
    parser.add_argument("--digits", type=int, default=1000, help="digits of the long addition")
    parser.add_argument("--length", type=int, default=30, help="length of the long sort")
    parser.add_argument("--loads", type=int, default=5, help="page loads per first-paint figure")
    args = common.parse(parser, QUICK)
    checkpoints = dict(item.split("=", 1) for item in args.checkpoint)
    unknown = set(checkpoints) - set(SHOTS)
    if unknown:
        parser.error(f"--checkpoint names one of {', '.join(SHOTS)}, not {', '.join(sorted(unknown))}")
    pages = Path(tempfile.mkdtemp(prefix="trace-pages-"))  # regenerated at will: not kept

    browser, playwright = None, None
    try:
        from playwright.sync_api import sync_playwright

        if Path(CHROMIUM).exists():
            playwright = sync_playwright().start()
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
    except ImportError:
        pass
    if browser is None:
        common.info(f"no {CHROMIUM} or playwright: the browser figures are null and no screenshots are taken")

    rows = []
    for title, problem in long_runs(args):
        task = get_task("sort" if title.startswith("sort") else "addition")
        started = time.perf_counter()
        data = get_family("npi").page(None, task, problem, oracle=True, title=title)
        seconds = time.perf_counter() - started
        path = trace_page.write(data, pages / f"{task.name}-{data['verdict']['steps']}.html")
        row = {
            "run": title,
            "steps": data["verdict"]["steps"],
            "record_seconds": round(seconds, 2),
            "megabytes": round(path.stat().st_size / 1e6, 3),
            "first_paint_ms": None,
            "ms_per_step": None,
        }
        if browser is not None:
            row.update(browser_figures(browser, path, row["steps"], args.loads))
        rows.append(row)
        common.info(json.dumps(row))

    shots = {}
    for name in args.families.split(","):
        data = page_data(name, checkpoints.get(name))
        if data is None:
            common.info(f"{name}: no checkpoint given (--checkpoint {name}=PATH), and no oracle: skipped")
            continue
        path = trace_page.write(data, pages / f"{name}.html")
        verdict = data["verdict"]
        shots[name] = {
            "steps": verdict["steps"],
            "correct": verdict["correct"],
            "checkpoint": checkpoints.get(name),
        }
        if browser is not None and args.shots is not None:
            args.shots.mkdir(parents=True, exist_ok=True)
            page = browser.new_page(viewport={"width": 1000, "height": 560})
            # a wrong model's page opens where it departs from the oracle; a right one's at a set step
            step = data["departure"]["step"] if data["departure"] else SHOTS[name][3]
            page.goto(f"{path.as_uri()}#step={min(step, data['verdict']['steps'])}")
            page.wait_for_selector("body[data-ready]")
            shot = args.shots / f"trace-{name}.png"
            page.screenshot(path=str(shot))
            page.close()
            with Image.open(shot) as image:  # 256 colours: a README picture, a third of the bytes
                image.convert("RGB").quantize(256).save(shot, optimize=True)
            shots[name]["screenshot"] = str(shot)
        common.info(f"{name}: {shots[name]}")
    if browser is not None and playwright is not None:
        browser.close()
        playwright.stop()
    print(common.table(["run", "steps", "record s", "MB", "first paint ms", "ms/step"], [
        [r["run"], str(r["steps"]), str(r["record_seconds"]), str(r["megabytes"]),
         str(r["first_paint_ms"]), str(r["ms_per_step"])] for r in rows
    ]))  # fmt: skip
    common.record(args, {"long_runs": rows, "pages": shots, "browser": CHROMIUM if browser else None})


if __name__ == "__main__":
    main()
