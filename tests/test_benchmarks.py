"""Every benchmark still runs: each script of benchmarks/ in its --quick mode (tiny sizes, the full run's
code paths: train, evaluate, table, JSON record, plot), in a subprocess, its results in a temp dir."""

import json
import os
import shlex
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py") if p.stem != "common")

FIGURES = {
    "addition_training": {"rows"},
    "cars": {"training", "seen", "unseen", "paper"},
    "multitask_table1": {"accuracy", "seconds", "test_sizes", "paper"},
    "npi_presets": {"rows"},
    "ntp_figures": {"fig5", "fig6", "plot"},
    "ntp_physics": {"expert", "ntp", "detector"},
    "ntp_speed": {"world", "training", "evaluation"},
    "rlntm_speed": {"rows"},
    "rlntm_table4": {"runs", "unfinished", "summary"},
    "sort_generalization": {"lengths", "models", "plot"},
    "sort_sample_complexity": {"rows", "first_perfect_n", "plot"},
    "sweeps": {"overhead"},
    "training_speed": {"rows", "before"},
    "trace_page": {"long_runs", "pages", "browser"},
    "throughput": {
        "train_steps_per_s_batched",
        "train_steps_per_s_step_by_step",
        "train_speedup",
        "interpret_steps_per_s_lockstep",
        "interpret_steps_per_s_one_at_a_time",
        "interpret_speedup",
        "interpret_fraction_of_matmul",
    },
}
"""Script -> keys its record's figures hold (a new script needs an entry)."""


@pytest.mark.parametrize("script", SCRIPTS)
def test_quick_run_writes_its_record(script, tmp_path):
    # The scripts import this checkout's library, as the tests do (not another installed copy).
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    done = subprocess.run(
        [sys.executable, f"benchmarks/{script}.py", "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, f"{script} --quick failed:\n{done.stdout}\n{done.stderr}"

    record = json.loads((tmp_path / f"{script}.json").read_text())
    keys = {"benchmark", "command", "date", "quick", "seconds", "machine", "settings", "figures"}
    assert keys <= set(record)
    assert record["benchmark"] == script
    assert record["quick"] is True
    command = shlex.split(record["command"])
    assert command[1:] == [f"benchmarks/{script}.py", "--quick", "--out", str(tmp_path)]
    datetime.fromisoformat(record["date"])
    assert {"cpu", "cores", "threads", "torch"} <= set(record["machine"])
    assert record["settings"]["quick"] is True
    assert script in FIGURES, f"tests/test_benchmarks.py: add the figures of benchmarks/{script}.py"
    assert FIGURES[script] <= set(record["figures"])
    if "plot" in record["figures"]:
        plot = Path(record["figures"]["plot"])
        assert plot.parent == tmp_path and plot.stat().st_size > 0
