"""Bad input never costs a traceback or lost work: damaged checkpoints, unwritable output paths (checked
before any work starts), out-of-range config values; and a run counts only when the model halted."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from neuralprog import checkpoint
from neuralprog.checkpoint import CheckpointError
from neuralprog.cli import main
from neuralprog.evaluate import evaluate
from neuralprog.execute import RunResult, check
from neuralprog.families import load
from neuralprog.models.npi import NPI
from neuralprog.presets import get_preset, override
from neuralprog.registry import get_task


def _cli(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_line_error(result, *fragments):
    code, _, err = result
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def _tampered(tmp_path: Path, source: Path, name: str, change) -> Path:
    payload = torch.load(source, weights_only=True)
    change(payload)
    path = tmp_path / name
    torch.save(payload, path)
    return path


def _malformed_config(p):
    p["model_config"]["hidden_size"] = "wide"


def _unknown_config_field(p):
    p["model_config"]["colour"] = 3


def _no_program_set(p):
    del p["programs"]


def _other_task(p):
    p["task"] = "sort"


def _tampered_shape(p):
    p["model"]["program_keys"] = torch.zeros(3, 3)


def _observations(p):
    p["model_config"]["obs_sizes"] = [[11, 11, 11]]


BAD = {
    "malformed-config": (_malformed_config, "model config is malformed"),
    "unknown-field": (_unknown_config_field, "unknown field(s) colour"),
    "no-program-set": (_no_program_set, "holds no program set"),
    "other-task": (_other_task, "another program set"),
    "tampered-shape": (_tampered_shape, "weights do not match"),
    "observation-spec": (_observations, "observation spec"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_checkpoints_get_one_line_through_the_cli_and_an_exception_through_the_api(
    name, tiny_run, tmp_path, capsys
):
    change, message = BAD[name]
    path = _tampered(tmp_path, tiny_run, f"{name}.pt", change)
    with pytest.raises(CheckpointError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load(path)
    for verb in (
        ["eval", path, "--lengths", "2", "--n", "2"],
        ["trace", path, "--problem", '{"a": "1", "b": "2"}'],
    ):
        _one_line_error(_cli(capsys, *verb), message)


def test_the_api_checks_a_checkpoint_against_its_task(tiny_run):
    payload = checkpoint.load(tiny_run)
    with pytest.raises(CheckpointError, match="another program set"):
        checkpoint.load_model(payload, NPI, get_task("sort"))
    with pytest.raises(CheckpointError, match="not an RL-NTM"):
        from neuralprog.models.rlntm import RLNTM

        checkpoint.load_model(payload, RLNTM)


def test_a_header_without_weights_or_task_is_damaged(tiny_run, tmp_path, capsys):
    path = _tampered(tmp_path, tiny_run, "noweights.pt", lambda p: p.pop("model"))
    with pytest.raises(CheckpointError, match="'model' entry is missing"):
        checkpoint.load(path)
    _one_line_error(_cli(capsys, "eval", path), "'model' entry is missing")


def test_a_write_that_fails_after_the_checks_is_one_line(tiny_run, tmp_path, capsys, monkeypatch):
    import neuralprog.cli

    def disk_full(path, text):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(neuralprog.cli, "_write_atomic", disk_full)
    code, _, err = _cli(capsys, "eval", tiny_run, "--lengths", "2", "--n", "2", "--json", tmp_path / "r.json")
    assert code == 2 and "Traceback" not in err  # progress lines, then the error as the last line
    assert "cannot write" in err.splitlines()[-1] and "No space left on device" in err.splitlines()[-1]


def test_every_output_path_is_checked_before_any_work(tiny_run, tmp_path, capsys, monkeypatch):
    import neuralprog.families
    import neuralprog.traces

    def no_work(*args, **kwargs):
        raise AssertionError("work started before the output path was checked")

    monkeypatch.setattr(neuralprog.families, "load", no_work)  # eval, solve
    monkeypatch.setattr(neuralprog.traces, "generate", no_work)  # data
    missing = tmp_path / "no" / "such" / "dir"
    problems = tmp_path / "p.jsonl"
    problems.write_text('{"a": "1", "b": "2"}\n')
    a_file = tmp_path / "file"
    a_file.write_text("x")
    for verb, message in (
        (["eval", tiny_run, "--json", missing / "r.json"], "does not exist"),
        (["eval", tiny_run, "--plot", missing / "r.png"], "does not exist"),
        (["eval", tiny_run, "--plot", tmp_path], "is a directory"),
        (["solve", tiny_run, "--problems", problems, "--out", missing / "o.jsonl"], "does not exist"),
        (["solve", tiny_run, "--problems", problems, "--out", a_file], "already exists"),
        (["data", "addition", "--out", missing / "t.jsonl"], "does not exist"),
        (["train", "addition-tiny", "--out", a_file / "run"], "is a file"),
        (["extend", tiny_run, "--programs", "X", "--out", a_file / "run"], "is a file"),
        (["demo", "--out", a_file / "run"], "is a file"),
    ):
        _one_line_error(_cli(capsys, *verb), message)


@pytest.mark.parametrize(
    "assignment, message",
    [
        ("train.updates=-5", "train.updates must be at least 1, got -5"),
        ("train.lr=0", "train.lr must be positive"),
        ("train.lr=nan", "train.lr must be positive"),
        ("train.curriculum_hard_fraction=1.5", "train.curriculum_hard_fraction must be between 0 and 1"),
        ("train.lr_drop=0", "train.lr_drop must be in (0, 1]"),
        ("data.sizes=0,1", "data.sizes must list sizes of at least 1"),
        ("model.layers=0", "model.layers must be at least 1"),
        ("model.field_dropout=-0.1", "model.field_dropout must be between 0 and 1"),
    ],
)
def test_out_of_range_config_values_name_the_field(assignment, message, tmp_path, capsys):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("]", r"\]")):
        override(get_preset("addition-tiny"), [assignment])
    _one_line_error(
        _cli(capsys, "train", "addition-tiny", "--out", tmp_path / "r", "--set", assignment), message
    )
    assert not (tmp_path / "r").exists()


def test_rlntm_config_values_are_checked_too(capsys, tmp_path):
    _one_line_error(
        _cli(capsys, "train", "rlntm-copy", "--out", tmp_path / "r", "--set", "model.controller=gru"),
        "model.controller must be one of direct, lstm, feedforward",
    )
    _one_line_error(
        _cli(capsys, "train", "rlntm-copy", "--out", tmp_path / "r", "--set", "train.solve_accuracy=2"),
        "train.solve_accuracy must be between 0 and 1",
    )


def test_a_right_answer_without_halting_is_not_correct(addition):
    problems = [addition.parse({"a": "12", "b": "34"})] * 2
    result = RunResult(["46", "46"], np.array([5, 5]), np.array([True, False]))
    assert check(addition, problems, result).tolist() == [True, False]


def test_a_model_that_never_returns_scores_zero(tiny_run, capsys, tmp_path, monkeypatch):
    """The tiny model adds correctly; forced never to return, it runs out of steps and scores 0%, even
    where the pad holds the right sum when it is stopped."""
    loaded = load(tiny_run)
    task = loaded.task
    honest = evaluate(loaded.model, task, [3], n=20)[0]
    assert honest.correct == honest.halted == 20

    real_step = NPI.step

    def never_return(self, *args, **kwargs):
        out, state = real_step(self, *args, **kwargs)
        out.end_logit = torch.full_like(out.end_logit, -10.0)
        return out, state

    monkeypatch.setattr(NPI, "step", never_return)
    forced = evaluate(loaded.model, task, [3], n=20)[0]
    assert forced.correct == 0 and forced.halted == 0 and forced.mean_steps > honest.mean_steps
    code, out, _ = _cli(
        capsys, "eval", tiny_run, "--lengths", "3", "--n", "20", "--json", tmp_path / "r.json"
    )
    assert code == 0 and "0.0%" in out
    (row,) = json.loads((tmp_path / "r.json").read_text())
    assert row["accuracy"] == 0.0 and row["halted_share"] == 0.0
    problems = tmp_path / "p.jsonl"
    problems.write_text('{"a": "12", "b": "34"}\n')
    assert (
        main(["solve", str(tiny_run), "--problems", str(problems), "--out", str(tmp_path / "o.jsonl")]) == 0
    )
    (line,) = [json.loads(x) for x in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert line["halted"] is False and line["correct"] is False


def test_checkpoints_written_before_the_argument_and_symbol_specs_still_load(tiny_run, tmp_path):
    """Files of earlier versions have no `n_args` (NPI) and no `vocab`/`read_vocab` (RL-NTM) in their
    model config: they load with the values those versions assumed."""
    old = _tampered(tmp_path, tiny_run, "old.pt", lambda p: p["model_config"].pop("n_args"))
    assert load(old).model.config.n_args == 3

    from neuralprog.models.rlntm import RLNTM, RLNTMConfig
    from neuralprog.registry import tape_task

    model = RLNTM(RLNTMConfig())
    path = checkpoint.save(tmp_path / "rlntm.pt", "rlntm", model, "copy", env="neuralprog/Copy-v0")
    old = _tampered(
        tmp_path, path, "old-rlntm.pt", lambda p: [p["model_config"].pop(k) for k in ("vocab", "read_vocab")]
    )
    loaded = load(old)
    assert (loaded.model.config.vocab, loaded.model.config.read_vocab) == (tape_task("copy").vocab, 32)
