"""Checks shared by several test modules."""

import numpy as np
import torch

from neuralprog.frames import FrameData
from neuralprog.models.npi import NPI


def assert_packed_equals_stepwise(model: NPI, data: FrameData) -> None:
    """Training's packed forward over whole frames equals the interpreter's one-step path, every step."""
    batch = data.batch(np.arange(len(data)))
    with torch.no_grad():
        packed = model.forward_frames(batch.obs, batch.args, batch.program, batch.env)
        for frame in range(len(data)):
            state = model.zero_state(1)
            for t in range(data.length[frame]):
                step = data.start[frame] + t
                row = int(np.flatnonzero(batch.steps == step)[0])
                out, state = model.step(
                    data.obs[step : step + 1],
                    torch.from_numpy(data.args[frame : frame + 1]),
                    torch.tensor([data.program[frame]]),
                    state,
                    env=torch.tensor([data.env[frame]]),
                )
                for name in ("end_logit", "key_scores", "arg_logits"):
                    expected = getattr(packed, name)[row : row + 1]
                    torch.testing.assert_close(getattr(out, name), expected, atol=1e-5, rtol=1e-5)


CHROMIUM = "/usr/bin/chromium"
"""Debian's Chromium (package `chromium`), which `.ci/run` installs when it is missing."""

CHROMIUM_FLAGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--no-first-run",
    "--disable-sync",
    # without these, Chromium calls home at start, and a closed network refuses it many times over
    "--disable-background-networking",
    "--disable-component-update",
]


def open_trace_page(browser, path, fragment: str = ""):
    """Open a `trace --html` page in a new tab and wait for its script to be ready. Returns (page,
    requests, errors): every URL the page asked for, and its script errors."""
    page = browser.new_page(viewport={"width": 1100, "height": 700})
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"file://{path}{fragment}")
    page.wait_for_selector("body[data-ready]")
    return page, requests, errors


def shown_step(page) -> int:
    return int(page.evaluate("document.body.dataset.step"))


def shown_grid(page) -> list[dict[int, str]]:
    """The cells the page draws, per grid row: {column: text}."""
    return page.evaluate(
        """() => [...document.querySelectorAll('#grid tr.cells')].map(tr =>
            Object.fromEntries([...tr.querySelectorAll('td')].map(td => [td.dataset.c, td.textContent])))"""
    )


def shown_pointers(page) -> dict[str, int]:
    """Pointer name -> the column the page draws it on."""
    return page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('#grid td.ptr')].flatMap(td =>
            td.title.split(', ').map(name => [name, +td.dataset.c])))"""
    )


def first_paint(page) -> float:
    """The page's first contentful paint in ms after navigation (polled from here: the page's own
    Content-Security-Policy forbids the evaluated strings Playwright's waiting would use)."""
    import time

    entry = "performance.getEntriesByType('paint').find(e => e.name === 'first-contentful-paint')?.startTime"
    for _ in range(100):
        paint = page.evaluate(entry)
        if paint is not None:
            return float(paint)
        time.sleep(0.05)
    raise AssertionError("the page never recorded a first contentful paint")


def wait_for_step(page, step: int) -> None:
    """Wait until the page shows `step` (after a change of its address, which it handles on an event)."""
    import time

    for _ in range(100):
        if shown_step(page) == step:
            return
        time.sleep(0.02)
    raise AssertionError(f"the page shows step {shown_step(page)}, not {step}")
