import os

# A training run repeats exactly only with the same float arithmetic, and torch and MKL pick their CPU
# kernels by the instruction set: on a CPU with AVX-512 the same seed trains another model. Test runs use
# the AVX2 kernels, which every x86-64 CPU of the last decade has (read when torch loads, so set before
# it is imported), so that a failure repeats across machines of one kind. That is all: the same kernels
# on an AMD CPU still train other models than on an Intel one, so a learning test never asserts one
# seed's trajectory, only what most seeds do within an update cap. Each learning test's docstring gives
# the updates each seed took with these kernels and with the CPU's own; to run with the latter, export
# ATEN_CPU_CAPABILITY=avx512 (or default: no vector kernels) and MKL_CBWR=AUTO before pytest starts.
os.environ.setdefault("ATEN_CPU_CAPABILITY", "avx2")
os.environ.setdefault("MKL_CBWR", "AVX2")

from pathlib import Path

# The tests' rendered car images live in one cache that every test (and benchmark subprocess) shares and
# a later run reuses, apart from a user's own cache.
os.environ.setdefault(
    "NEURALPROG_CARS_CACHE", str(Path(__file__).resolve().parent.parent / ".pytest_cache" / "neuralprog-cars")
)

import pytest
import torch

# Small models are fastest single-threaded, and tests run alongside each other's subprocesses (and other
# jobs): with two threads and the other core busy, each op waits on its partner thread (a tanh took
# 10 ms instead of 0.08), and a 60-update run took 50 s.
torch.set_num_threads(1)

SLOW_FIXTURES = {"tiny_run", "tiny_runs", "copy_run", "copy_runs", "trained_sort", "sort_recursive"}
"""Fixtures that train a model to competence: every test that uses one is marked slow, so that
`pytest -m "not slow"` is a quick loop. (Tests that train by themselves carry @pytest.mark.slow.)"""


def pytest_collection_modifyitems(items):
    for item in items:
        if SLOW_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium driven by Playwright, for the trace pages. Skipped where either is missing,
    unless NEURALPROG_BROWSER_TESTS=1 (CI sets it after installing Chromium), where that fails."""
    from helpers import CHROMIUM, CHROMIUM_FLAGS

    required = os.environ.get("NEURALPROG_BROWSER_TESTS") == "1"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if required:
            pytest.fail("playwright is not installed (make setup installs it)")
        pytest.skip("playwright is not installed (make setup installs it)")
    if not Path(CHROMIUM).exists():
        if required:
            pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def addition():
    from neuralprog.registry import get_task

    return get_task("addition")


TINY = ["train.lr=3e-3", "train.stop_after_perfect=4"]
"""addition-tiny as the tests train it. Measured before the preset turned on `model.layer_norm`
(2026-12-06): the preset itself (lr 1e-3, decayed by 0.9 per 100 updates) was too slow for some seeds:
seed 2 never got its training steps right within the 2,500 updates (ADD1 stuck near 87%, with AVX2 and
AVX-512 kernels alike), seed 0 took 2,150 (AVX2) or 1,400 (AVX-512). With lr 3e-3, seeds 0-3 stopped
early after 1,100 / 850 / 1,800 / 1,250 updates (AVX2) or 1,450 / 850 / 1,700 / 1,000 (AVX-512), and all
eight added 100-digit numbers exactly; stopping after 4 perfect evaluations, not 2, is what made that
hold (seed 0 stopped at 1,000 with 2 and got 1 in 20 wrong). Not always: seed 0 with torch's default
(unvectorized) kernels stopped at 1,450 and its ADD loop ended early on 2 of 20 100-digit sums. With the
normalization the learning test passed on 2026-12-06 (AVX2 kernels); its per-seed updates were not
measured again."""


def tiny_competent(payload, cap: int) -> tuple[bool, float]:
    """(stopped early: every training step and validation sum right before `cap`, accuracy on 20
    100-digit sums)."""
    from neuralprog import checkpoint
    from neuralprog.evaluate import evaluate
    from neuralprog.models.npi import NPI
    from neuralprog.registry import get_task

    [result] = evaluate(checkpoint.load_model(payload, NPI), get_task("addition"), [100], n=20, seed=7)
    return payload["update"] < cap, result.accuracy


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory):
    """addition-tiny (with TINY) trained with seed 0, and with seed 1 only when seed 0 does not both stop
    early and add 100-digit numbers exactly: [(path, payload, stopped early, 100-digit accuracy)]."""
    from neuralprog import checkpoint
    from neuralprog.presets import get_preset, override
    from neuralprog.train.supervised import train

    runs = []
    for seed in (0, 1):
        preset = override(get_preset("addition-tiny"), [*TINY, f"train.seed={seed}"])
        out = tmp_path_factory.mktemp("tiny") / f"run-{seed}"
        path = train(preset, out, progress=False, log=lambda _: None)
        payload = checkpoint.load(path)
        early, accuracy = tiny_competent(payload, preset.train.updates)
        runs.append((path, payload, early, accuracy))
        if early and accuracy == 1.0:
            break
    return runs


@pytest.fixture(scope="session")
def tiny_run(tiny_runs):
    """The checkpoint of a competent addition model: the first of those runs that stopped early and is
    exact on 100 digits, else the first that stopped early (the tests that use it add short numbers)."""
    ranked = sorted(tiny_runs, key=lambda run: (not run[2], run[3] < 1.0))
    if not ranked[0][2]:
        pytest.fail("addition-tiny never stopped early (seeds 0 and 1)")
    return ranked[0][0]
