"""Sweeps on Ray: the spec, the trials, resuming, failures, a worker node killed mid-trial, and the
TensorBoard event files every training run writes."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from neuralprog import sweep
from neuralprog.cli import main
from neuralprog.sweep import SweepError, Trial, load_spec, trials

RAY = importlib.util.find_spec("ray") is not None
TENSORBOARD = importlib.util.find_spec("tensorboard") is not None
needs_ray = pytest.mark.skipif(not RAY, reason="the sweep extra (ray) runs sweeps")

SPEC = """
presets = ["addition-tiny"]
seeds = [0, 1]
[grid]
"train.lr" = [1e-3, 3e-4]
[[variants]]
"data.per_size" = 8
[eval]
sizes = [3]
n = 10
[[plots]]
y = "accuracy@3"
x = "train.lr"
"""
TINY = ["train.updates=40", "data.sizes=1:3", "train.validation_problems=4"]
"""A few seconds of training per trial."""


def test_a_spec_crosses_presets_settings_and_seeds(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(SPEC)
    spec = load_spec(path, fixed=TINY)
    assert spec.name == "s" and spec.directory == Path("runs/sweeps/s")
    every = trials(spec)
    assert len(every) == 4 and len({t.id for t in every}) == 4
    assert every[0].assignments == [*TINY, "data.per_size=8", "train.lr=0.001", "train.seed=0"]
    assert every[0].fields() == {"preset": "addition-tiny", "seed": 0, "data.per_size": 8, "train.lr": 0.001}
    flags = load_spec(path, seeds=[5], eval={"n": 3}, out=str(tmp_path / "o"))
    assert flags.seeds == (5,) and flags.eval.sizes == (3,) and flags.eval.n == 3
    assert flags.directory == tmp_path / "o"
    assert Trial("addition-tiny", 0).id == "addition-tiny-seed0"


@pytest.mark.parametrize("path", sorted(Path(__file__).parents[1].glob("benchmarks/sweeps/*.toml")))
def test_the_benchmark_specs_are_valid(path):
    assert trials(load_spec(path))


@pytest.mark.parametrize(
    ("text", "flags", "message"),
    [
        ('presets = ["nope"]', {}, "unknown preset 'nope'"),
        ('presets = ["addition-tiny"]\n[grid]\n"train.nope" = [1]', {}, "train has no field 'nope'"),
        ('presets = ["addition-tiny"]\n[grid]\n"train.lr" = []', {}, "must be a non-empty list"),
        ("presets = []", {}, "presets must be a non-empty list"),
        ('presets = ["addition-tiny"]\nseeds = [-1]', {}, "seeds: expected a whole number"),
        ('presets = ["addition-tiny"]\ncolour = 1', {}, "unknown key(s) colour"),
        ('presets = ["addition-tiny"]\n[eval]\nsizes = [0]', {}, "eval.sizes"),
        ("presets = [", {}, "not valid TOML"),
        ('presets = ["addition-tiny"]', {"fixed": ["train.lr=fast"]}, "bad value 'fast'"),
        ('presets = ["ntp-stacking"]', {}, "NTP presets are not swept yet"),
    ],
)
def test_a_bad_spec_is_one_error_before_anything_runs(tmp_path, text, flags, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(SweepError) as caught:
        load_spec(path, **flags)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_the_cli_refuses_a_bad_spec_or_an_unreachable_cluster_with_exit_2(tmp_path, capsys):
    assert main(["sweep", str(tmp_path / "missing.toml")]) == 2
    assert "no sweep spec" in capsys.readouterr().err
    assert main(["sweep", "--presets", "addition-tiny", "--grid", "train.lr="]) == 2
    assert "--grid takes" in capsys.readouterr().err
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.perf_counter()
    code = main(
        ["sweep", "--presets", "addition-tiny", "--out", str(tmp_path), "--address", f"127.0.0.1:{port}"]
    )
    err = capsys.readouterr().err
    assert code == 2 and "cannot reach a Ray cluster" in err and err.count("\n") == 1
    assert time.perf_counter() - started < 10
    assert not (tmp_path / "trials").exists()


def test_a_trial_kept_from_other_settings_counts_as_not_done(tmp_path):
    """A kept trial whose config.json is not the preset as it is today (its recipe changed since) trains
    again; a config saved before a field existed counts that field at its default."""
    import dataclasses

    from neuralprog.presets import get_preset

    store = sweep.Store(tmp_path)
    trial = Trial("addition-tiny", 0)
    today = json.loads(json.dumps(dataclasses.asdict(sweep.preset_of(trial))))
    older = {**today, "model": {k: v for k, v in today["model"].items() if k != "layer_norm"}}
    for config, kept in ((today, True), (older, False)):
        files = {"config.json": json.dumps(config).encode()}
        row = store.save(trial, {"result": {"trial": trial.id, "status": "ok"}, "files": files})
        assert (store.done(trial) == row) is kept
    assert get_preset("addition-tiny").model.layer_norm  # the field the older config lacks is not its default


def test_a_damaged_trial_counts_as_not_done(tmp_path):
    store = sweep.Store(tmp_path)
    trial = Trial("addition-tiny", 0)
    files = {"checkpoint.pt": b"\x00\x01\x02", "metrics.jsonl": b"{}\n"}
    row = store.save(trial, {"result": {"trial": trial.id, "status": "ok"}, "files": files})
    assert store.done(trial) == row
    (store.trial_dir(trial) / "checkpoint.pt").write_bytes(b"\x00")
    assert store.done(trial) is None
    (store.trial_dir(trial) / "checkpoint.pt").unlink()
    assert store.done(trial) is None


@needs_ray
@pytest.mark.slow
def test_a_local_sweep_runs_every_trial_once_and_a_second_run_runs_nothing(tmp_path, capsys):
    spec_path = tmp_path / "s.toml"
    spec_path.write_text(SPEC)
    out = tmp_path / "sweep"
    argv = ["sweep", str(spec_path), "--out", str(out), "--cpus", "2", *(f"--set={s}" for s in TINY)]
    assert main(argv) == 0
    first = capsys.readouterr()
    record = json.loads((out / "results.json").read_text())
    assert [r["status"] for r in record["trials"]] == ["ok"] * 4
    for row in record["trials"]:
        assert 0 <= row["accuracy@3"] <= 1 and row["updates"] == 40
        run = out / "trials" / row["trial"]
        assert {"checkpoint.pt", "metrics.jsonl", "config.json", "result.json"} <= {
            p.name for p in run.iterdir()
        }
    assert (out / "plots" / "accuracy@3-by-train.lr-per-preset.png").stat().st_size > 0
    started = time.perf_counter()
    assert main(argv) == 0
    second = capsys.readouterr()
    assert time.perf_counter() - started < 5  # nothing trains, Ray does not even start
    assert "trials to run" not in second.err
    table = lambda text: text[text.index("┏") : text.index("results:")]  # noqa: E731
    assert table(second.out) == table(first.out)


@needs_ray
@pytest.mark.slow
def test_a_failing_trial_is_retried_then_recorded_while_the_others_finish(tmp_path, capsys):
    out = tmp_path / "sweep"
    argv = ["sweep", "--presets", "addition-tiny", "--grid", "train.lr=1e-3,1e30", "--retries", "1"]
    argv += ["--eval-sizes", "3", "--eval-n", "5", "--out", str(out), "--cpus", "2"]
    assert main([*argv, *(f"--set={s}" for s in TINY)]) == 1
    captured = capsys.readouterr()
    rows = json.loads((out / "results.json").read_text())["trials"]
    assert [r["status"] for r in rows] == ["ok", "failed"]
    assert "non-finite loss" in rows[1]["error"] and "\n" not in rows[1]["error"]
    assert "failed after 2 attempts" in captured.err
    assert (out / "trials" / rows[1]["trial"] / "error.txt").exists()


@needs_ray
@pytest.mark.slow
def test_ctrl_c_keeps_the_finished_trials_and_a_rerun_runs_only_the_rest(tmp_path):
    import signal

    out = tmp_path / "sweep"
    argv = [sys.executable, "-m", "neuralprog", "sweep", "--presets", "addition-tiny", "--seeds", "0,1,2,3"]
    argv += ["--eval-sizes", "3", "--eval-n", "5", "--cpus", "1", "--out", str(out)]
    argv += [*(f"--set={s}" for s in TINY)]
    driver = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(out.glob("trials/*/result.json")):
        assert driver.poll() is None and time.monotonic() < deadline, driver.communicate()
        time.sleep(0.2)
    driver.send_signal(signal.SIGINT)
    _, stderr = driver.communicate(timeout=60)
    kept = len(list(out.glob("trials/*/result.json")))
    assert driver.returncode == 130 and f"{kept} finished trials are kept" in stderr, stderr
    assert 1 <= kept < 4
    again = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and f"{4 - kept} of 4 trials to run ({kept} done before)" in again.stderr


def _children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (from /proc)."""
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    kids.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                pass
    return kids


def _running_trial(node) -> bool:
    """Whether a worker of this Ray node is running a trial (Ray titles such a process ray::run_trial)."""
    raylet = node.all_processes["raylet"][0].process.pid
    for pid in _children(raylet):
        try:
            if b"ray::run_trial" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return True
        except OSError:
            pass
    return False


@needs_ray
@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").exists(), reason="finds Ray's worker processes in /proc")
def test_a_sweep_on_a_two_node_cluster_survives_losing_its_worker_node(tmp_path, monkeypatch):
    from ray.cluster_utils import Cluster

    monkeypatch.setenv("RAY_worker_niceness", "0")  # as `neuralprog sweep` runs a local instance's trials

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        worker = cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        out = tmp_path / "sweep"
        argv = [sys.executable, "-m", "neuralprog", "sweep", "--presets", "addition-tiny", "--seeds", "0,1"]
        argv += ["--grid", "train.lr=1e-3,3e-4", "--eval-sizes", "3", "--eval-n", "10", "--out", str(out)]
        argv += ["--address", cluster.address, *(f"--set={s}" for s in TINY)]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        driver = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.monotonic() + 120
        while not _running_trial(worker):
            assert driver.poll() is None and time.monotonic() < deadline, "no trial ever ran on the worker"
            time.sleep(0.2)
        cluster.remove_node(worker, allow_graceful=False)  # the node dies mid-trial
        stdout, stderr = driver.communicate(timeout=300)
        assert driver.returncode == 0, stderr
        rows = json.loads((out / "results.json").read_text())["trials"]
        assert len(rows) == 4 and all(r["status"] == "ok" for r in rows)
        again = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
        assert again.returncode == 0 and "trials to run" not in again.stderr
        table = lambda text: text[text.index("┏") : text.index("results:")]  # noqa: E731
        assert table(again.stdout) == table(stdout)
    finally:
        cluster.shutdown()


@pytest.mark.skipif(not TENSORBOARD, reason="the tensorboard extra writes the event files")
def test_training_writes_tensorboard_events_unless_told_not_to(tmp_path, capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    argv = ["train", "addition-tiny", "--out", str(run), *(f"--set={s}" for s in TINY)]
    assert main([*argv, "--set", "train.eval_every=20"]) == 0
    assert f"tensorboard --logdir {run}" in capsys.readouterr().err
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    tags = events.Tags()["scalars"]
    assert {"train/loss", "train/lr", "eval/step_accuracy/ADD", "time/update_seconds"} <= set(tags)
    assert [e.step for e in events.Scalars("train/loss")] == list(range(1, 41))
    assert [e.step for e in events.Scalars("eval/step_accuracy")] == [20, 40]
    quiet = tmp_path / "quiet"
    assert main(["train", "addition-tiny", "--out", str(quiet), "--no-tensorboard", *argv[4:]]) == 0
    assert not (quiet / "tensorboard").exists() and (quiet / "metrics.jsonl").exists()
