"""Every model family of the library, one record each, and loading a checkpoint of any of them.

A family is what the rest of the library needs to know about one kind of model: its model class (which
says how a checkpoint of it is rebuilt and checked against its task), the preset type that trains it,
the trainer, the runner that executes it, its trace view and what ends a run. `load`, `evaluate` and the
CLI dispatch through these records instead of asking what a model is; adding a family is one model file,
one env package, one record (`register_family`) and its presets (`neuralprog.presets.register_preset`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from neuralprog import checkpoint
from neuralprog.checkpoint import CheckpointError
from neuralprog.execute import ntp as ntp_runner
from neuralprog.execute import ntp_view, trace_view
from neuralprog.execute import rlntm as rlntm_runner
from neuralprog.execute import seq2seq as seq2seq_runner
from neuralprog.execute.common import RunResult
from neuralprog.execute.interpreter import run as interpret
from neuralprog.models.baselines import Seq2Seq
from neuralprog.models.npi import NPI
from neuralprog.models.ntp import NTP
from neuralprog.models.rlntm import RLNTM
from neuralprog.presets import NTPPreset, Preset, RLNTMPreset, Seq2SeqPreset
from neuralprog.registry import program_task, tabletop_task, tape_task
from neuralprog.train import ntp, reinforce, seq2seq, supervised


@dataclass(frozen=True)
class Family:
    """One model family (see the module docstring)."""

    model_type: Any
    """The model class: `model_type(config)`; its class attributes `kind` (stored in checkpoints),
    `title` and `config_type`, and static methods `upgrade_config` and `mismatch`, tell
    `neuralprog.checkpoint.load_model` how to rebuild and check a stored model."""
    preset_type: type
    """The preset dataclass that `train` takes."""
    task: Callable[[str], Any]
    """A task this family runs, by name (a ValueError for any other)."""
    train: Callable[..., Path]
    """(preset, out_dir, *, resume, device, traces, log, progress, tensorboard) -> the final
    checkpoint's path."""
    run: Callable[[Any, Any, list[dict]], RunResult]
    """(model, task, parsed problems) -> RunResult, every problem in lockstep."""
    show: Callable[..., bool]
    """The trace view: (model, task, problem, oracle=, pad=, out=) -> whether the run was correct."""
    halting: str
    """What ends a run, said under `eval`'s table."""
    calls_programs: bool
    """It executes programs from a program set (`verify`, `extend`, `data`, `trace --oracle` apply)."""
    has_expert: bool = False
    """`trace --oracle` shows its reference program's trace (families that call programs have one)."""
    page: Callable[..., dict] | None = None
    """The data of its `trace --html` page (`neuralprog.execute.page`): (model, task, problem, oracle=,
    title=) -> the run recorded step by step, whatever its outcome; None: it has no page (a family that
    runs in the call-stack interpreter can take `trace_view.page`)."""

    @property
    def kind(self) -> str:
        return str(self.model_type.kind)

    @property
    def title(self) -> str:
        return str(self.model_type.title)


NPI_FAMILY = Family(
    model_type=NPI,
    preset_type=Preset,
    task=program_task,
    train=supervised.train,
    run=interpret,
    show=trace_view.show,
    page=trace_view.page,
    halting="a run halts when its root program returns within its step and call-depth budgets",
    calls_programs=True,
    has_expert=True,
)
"""NPI: a call stack over a program memory, trained on oracle traces."""


def _seq2seq_run(model: Seq2Seq, task: Any, problems: list[dict]) -> RunResult:
    return seq2seq_runner.run_seq2seq(model, task.name, problems)


def _no_trace(model: Any, task: Any, problem: dict, **options: Any) -> bool:
    raise ValueError(
        "the seq2seq baseline answers without running programs: there is no execution to show "
        "(eval and solve take it)"
    )


SEQ2SEQ_FAMILY = Family(
    model_type=Seq2Seq,
    preset_type=Seq2SeqPreset,
    task=program_task,
    train=seq2seq.train_preset,
    run=_seq2seq_run,
    show=_no_trace,
    halting="a seq2seq answer halts when the decoder emits EOS within its step budget",
    calls_programs=False,
)
"""The seq2seq baseline: answers learned from input/output pairs, no programs."""


RLNTM_FAMILY = Family(
    model_type=RLNTM,
    preset_type=RLNTMPreset,
    task=tape_task,
    train=reinforce.train,
    run=rlntm_runner.run,
    show=rlntm_runner.show,
    page=rlntm_runner.page,
    halting=rlntm_runner.HALTING,
    calls_programs=False,
)
"""RL-NTM: heads over tapes, trained with REINFORCE."""


def _ntp_run(model: NTP, task: Any, problems: list[dict]) -> RunResult:
    return ntp_runner.run(model, task, problems)


NTP_FAMILY = Family(
    model_type=NTP,
    preset_type=NTPPreset,
    task=tabletop_task,
    train=ntp.train,
    run=_ntp_run,
    show=ntp_view.show,
    page=ntp_view.page,
    halting=ntp_runner.HALTING,
    calls_programs=False,
    has_expert=True,
)
"""NTP: a call stack that hands each callee its part of a demonstration, trained on expert traces."""


FAMILIES: dict[str, Family] = {f.kind: f for f in (NPI_FAMILY, SEQ2SEQ_FAMILY, RLNTM_FAMILY, NTP_FAMILY)}


def register_family(family: Family) -> None:
    """Add a model family of your own (a kind already taken is refused)."""
    if family.kind in FAMILIES and FAMILIES[family.kind] is not family:
        raise ValueError(f"a model family {family.kind!r} exists already")
    FAMILIES[family.kind] = family


def get_family(kind: str) -> Family:
    if kind not in FAMILIES:
        raise ValueError(f"unknown model family {kind!r}; known: {', '.join(FAMILIES)}")
    return FAMILIES[kind]


def family_of_preset(preset: Any) -> Family:
    for family in FAMILIES.values():
        if isinstance(preset, family.preset_type):
            return family
    raise ValueError(f"no model family trains a {type(preset).__name__}")


def family_of_model(model: Any) -> Family:
    for family in FAMILIES.values():
        if isinstance(model, family.model_type):
            return family
    raise ValueError(f"no model family has models of type {type(model).__name__}")


@dataclass
class Loaded:
    """A checkpoint's model, ready to run, with its task and family."""

    model: Any
    task: Any
    family: Family
    payload: dict


def load(path: str | Path, device: str | torch.device = "cpu") -> Loaded:
    """Load any checkpoint and check it against its task: the config parses, the program set and the
    observation spec are the task's, the weights fit the config. A `CheckpointError` (one line) says
    what is wrong otherwise."""
    payload = checkpoint.load(path)
    try:
        family = get_family(checkpoint.model_kind(payload))
    except ValueError as e:
        raise CheckpointError(f"{path} holds a model this library cannot build ({e})") from None
    try:
        task = family.task(payload["task"])
    except ValueError as e:
        raise CheckpointError(f"{path} is a checkpoint of a task this library does not have ({e})") from None
    try:
        model = checkpoint.load_model(payload, family.model_type, task, device)
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from None
    return Loaded(model, task, family, payload)
