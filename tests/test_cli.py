import json
import os
import signal
import subprocess
import sys
import time

import pytest

from neuralprog import checkpoint
from neuralprog.cli import main

CLI = [sys.executable, "-m", "neuralprog"]


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(code, err, pattern):
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2
    assert len(lines) == 1 and "error" in lines[0] and "Traceback" not in err
    assert pattern in lines[0], lines[0]


@pytest.mark.parametrize(
    "verb", ["train", "eval", "solve", "trace", "verify", "extend", "demo", "envs", "data", "gradcheck"]
)
def test_every_verb_has_help_with_an_example(verb):
    result = subprocess.run([*CLI, verb, "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "example:" in result.stdout and "neuralprog" in result.stdout


def test_envs_lists_addition_and_the_tapes(capsys):
    code, out, _ = _run(capsys, "envs")
    assert code == 0 and "neuralprog/Addition-v0" in out
    assert "neuralprog/ForwardReverse-v0" in out and "tasks: forward-reverse" in out
    assert "neuralprog/gym-ReversedAddition3-v0" in out


def test_unknown_preset_lists_the_presets(capsys, tmp_path):
    code, _, err = _run(capsys, "train", "multiplication", "--out", tmp_path / "x")
    _one_line_error(code, err, "available presets: addition")


def test_bad_override(capsys, tmp_path):
    code, _, err = _run(capsys, "train", "addition-tiny", "--out", tmp_path / "x", "--set", "train.nope=1")
    _one_line_error(code, err, "no field 'nope'")


def test_data_writes_a_readable_trace_file(capsys, tmp_path, addition):
    from neuralprog.traces import read_traces

    out = tmp_path / "add.jsonl"
    code, stdout, _ = _run(capsys, "data", "addition", "--lengths", "1:3", "--per-length", "2", "--out", out)
    assert code == 0 and stdout.strip() == str(out)
    assert len(read_traces(out, addition)) == 6
    code, _, err = _run(capsys, "data", "addition", "--lengths", "1:3", "--out", out)
    _one_line_error(code, err, "already exists")


def test_training_on_a_malformed_trace_file(capsys, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"format": "neuralprog-trace", "version": 1}\n')
    code, _, err = _run(capsys, "train", "addition-tiny", "--out", tmp_path / "r", "--traces", bad)
    _one_line_error(code, err, "bad.jsonl:1")


def test_missing_truncated_foreign_and_wrong_task_checkpoints(capsys, tmp_path, tiny_run):
    import torch

    code, _, err = _run(capsys, "eval", tmp_path / "nothing.pt", "--lengths", "5")
    _one_line_error(code, err, "not found")

    cut = tmp_path / "cut.pt"
    cut.write_bytes(tiny_run.read_bytes()[:5000])
    code, _, err = _run(capsys, "eval", cut, "--lengths", "5")
    _one_line_error(code, err, "damaged")

    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    code, _, err = _run(capsys, "trace", foreign, "--problem", '{"a": "1", "b": "2"}')
    _one_line_error(code, err, "not a neuralprog checkpoint")

    text = tmp_path / "notes.pt"
    text.write_text("hello")
    code, _, err = _run(capsys, "solve", text, "--problems", text, "--out", tmp_path / "o.jsonl")
    _one_line_error(code, err, "damaged")

    with pytest.raises(checkpoint.CheckpointError, match="not 'sorting'"):
        checkpoint.load(tiny_run, task="sorting")
    wrong = tmp_path / "wrong.pt"
    payload = checkpoint.load(tiny_run)
    payload["task"] = "sorting"
    torch.save(payload, wrong)
    code, _, err = _run(capsys, "eval", wrong, "--lengths", "5")
    _one_line_error(code, err, "unknown task 'sorting'")


def test_solve_marks_bad_lines_and_runs_the_rest(capsys, tmp_path, tiny_run):
    problems = tmp_path / "in.jsonl"
    problems.write_text(
        "\n".join(
            [
                '{"a": "96", "b": "25"}',
                '{"a": "-3", "b": "1"}',
                "not json",
                '{"a": "12x"}',
                '{"a": "999", "b": "1"}',
            ]
        )
        + "\n"
    )
    out = tmp_path / "out.jsonl"
    code, stdout, _ = _run(capsys, "solve", tiny_run, "--problems", problems, "--out", out)
    assert code == 0 and stdout.strip() == str(out)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 5
    assert rows[0]["output"] == "121" and rows[0]["correct"] and rows[0]["halted"] and rows[0]["steps"] > 0
    assert rows[4]["output"] == "1000" and rows[4]["correct"]
    assert all("error" in rows[i] for i in (1, 2, 3))
    assert rows[2]["line"] == 3
    # the output is never overwritten silently
    code, _, err = _run(capsys, "solve", tiny_run, "--problems", problems, "--out", out)
    _one_line_error(code, err, "already exists")


def test_solve_with_an_empty_problems_file(capsys, tmp_path, tiny_run):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    code, _, err = _run(capsys, "solve", tiny_run, "--problems", empty, "--out", tmp_path / "o.jsonl")
    _one_line_error(code, err, "no problems")
    assert not (tmp_path / "o.jsonl").exists()


def test_trace_shows_steps_pad_and_agreement(capsys, tiny_run):
    code, out, _ = _run(capsys, "trace", tiny_run, "--problem", '{"a": "96", "b": "25"}')
    assert code == 0
    assert "ADD1" in out and "  CARRY" in out and "ACT WRITE OUT 1" in out and "end 0." in out
    assert "  OUT |" in out and "output 121  expected 121  correct" in out
    assert "follows the oracle step for step" in out
    code, out, _ = _run(capsys, "trace", tiny_run, "--problem", '{"a": "96", "b": "25"}', "--oracle")
    assert code == 0 and "oracle output 121" in out
    code, _, err = _run(capsys, "trace", tiny_run, "--problem", '{"a": "9x6", "b": "25"}')
    _one_line_error(code, err, "digits")


def test_eval_writes_json_and_plot(capsys, tmp_path, tiny_run):
    js, png = tmp_path / "r.json", tmp_path / "r.png"
    code, out, _ = _run(
        capsys, "eval", tiny_run, "--lengths", "5,30", "--n", "10", "--json", js, "--plot", png
    )
    assert code == 0 and "correct" in out and "halted" in out
    results = json.loads(js.read_text())
    assert [r["size"] for r in results] == [5, 30] and all(r["accuracy"] == 1.0 for r in results)
    assert png.read_bytes()[:4] == b"\x89PNG"
    code, _, err = _run(capsys, "eval", tiny_run, "--lengths", "5,zero")
    _one_line_error(code, err, "--lengths")


def test_nan_during_training_exits_cleanly(capsys, tmp_path):
    code, _, err = _run(
        capsys,
        "train",
        "addition-tiny",
        "--out",
        tmp_path / "r",
        "--set",
        "train.lr=1e30",
        "--set",
        "train.checkpoint_every=1",
    )
    assert code == 2 and "non-finite loss" in err and "Traceback" not in err
    assert checkpoint.load(tmp_path / "r" / "checkpoint.pt")["update"] >= 1


@pytest.mark.slow
def test_sigkill_then_resume(tmp_path):
    out = tmp_path / "run"
    args = [
        *CLI,
        "train",
        "addition-tiny",
        "--out",
        str(out),
        "--set",
        "train.checkpoint_every=10",
        "--set",
        "train.updates=400",
    ]
    args += ["--set", "train.stop_after_perfect=0"]
    # one thread, as the tests' own training: two crawl when the other core is busy (see conftest)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    log = tmp_path / "train.log"  # a file, not a pipe nobody reads: a full pipe would stall training
    with log.open("w") as sink:
        proc = subprocess.Popen(args, stdout=sink, stderr=subprocess.STDOUT, env=env)
    ckpt = out / "checkpoint.pt"
    killed_at = 0
    while proc.poll() is None:  # no wall-clock deadline: a slow machine only takes longer (pytest-timeout)
        time.sleep(0.2)
        try:
            killed_at = checkpoint.load(ckpt)["update"]
        except checkpoint.CheckpointError:
            continue
        if killed_at >= 30:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert killed_at >= 30, f"training ended ({proc.returncode}) before update 30: {log.read_text()[-500:]}"
    saved = checkpoint.load(ckpt)  # the file survived the kill intact
    assert saved["update"] >= killed_at and not saved["finished"]
    result = subprocess.run([*args, "--resume"], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(ckpt)
    final = checkpoint.load(ckpt)
    assert final["finished"] and final["update"] == 400
    updates = [json.loads(line)["update"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert updates == list(range(1, 401))  # nothing lost, nothing duplicated
    # without --resume the run directory is refused
    again = subprocess.run(args, capture_output=True, text=True, env=env)
    assert again.returncode == 2 and "already exists" in again.stderr


def test_demo_reuses_a_finished_run(capsys, tmp_path, tiny_run):
    out = tmp_path / "demo"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(tiny_run.read_bytes())
    code, stdout, err = _run(capsys, "demo", "--out", out, "--lengths", "10,50", "--n", "5")
    assert code == 0, err
    assert "reusing" in err and "--html run.html" in err
    assert "output 121  expected 121  correct" in stdout and "100.0%" in stdout
