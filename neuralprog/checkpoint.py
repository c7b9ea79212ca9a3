"""Checkpoints: one file with weights, configs, program set, env id and library version.

The file is a torch zip holding only tensors and plain Python values; it is written to a temp file and
renamed into place (atomic), and read with `weights_only=True`, so loading never runs pickled code.
`model_kind` says which model the weights are: "npi", "seq2seq" (the baseline, whose checkpoints
have no program set or env) or "rlntm" (whose task is a tape task).
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from neuralprog import __version__
from neuralprog.models.baselines import Seq2Seq, Seq2SeqConfig
from neuralprog.models.npi import NPI, NPIConfig
from neuralprog.models.rlntm import RLNTM, RLNTMConfig
from neuralprog.programs import ProgramSet

FORMAT = "neuralprog-checkpoint"
VERSION = 2


class CheckpointError(ValueError):
    """A checkpoint that is missing, damaged, foreign or for another task."""


def save(path: str | Path, model: NPI, task: str, env: str, programs: ProgramSet, **extra: Any) -> Path:
    """Write a checkpoint atomically. `extra` holds plain values (preset, progress, optimizer state...)."""
    return _write(Path(path), _payload("npi", task, model, env=env, programs=programs.to_json(), **extra))


def save_seq2seq(path: str | Path, model: Seq2Seq, task: str, **extra: Any) -> Path:
    """Write a seq2seq baseline's checkpoint atomically; `extra` as for `save`."""
    return _write(Path(path), _payload("seq2seq", task, model, **extra))


def save_rlntm(path: str | Path, model: RLNTM, task: str, env: str, **extra: Any) -> Path:
    """Write an RL-NTM checkpoint atomically; `extra` as for `save` (baseline network, optimizers...)."""
    return _write(Path(path), _payload("rlntm", task, model, env=env, **extra))


def _payload(kind: str, task: str, model: NPI | Seq2Seq | RLNTM, **fields: Any) -> dict:
    """What every checkpoint holds (format, versions, task, model kind, config and weights) and `fields`."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "library_version": __version__,
        "task": task,
        "model_kind": kind,
        "model_config": asdict(model.config),
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        **fields,
    }


def _write(path: Path, payload: dict) -> Path:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        torch.save(payload, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def load(path: str | Path, task: str | None = None, kind: str | None = "npi") -> dict:
    """Read and check a checkpoint; with `task`, it must be a checkpoint of that task, and with `kind`
    ("npi" or "seq2seq"; None accepts either) one of that kind of model."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a damaged file can fail anywhere inside torch's reader
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(f"{path} is damaged or not a neuralprog checkpoint ({reason[:120]})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a neuralprog checkpoint (no '{FORMAT}' header)")
    if payload.get("version") != VERSION:
        raise CheckpointError(
            f"{path} has checkpoint version {payload.get('version')}; this library reads version {VERSION}"
        )
    if task is not None and payload.get("task") != task:
        raise CheckpointError(f"{path} is a checkpoint of task {payload.get('task')!r}, not {task!r}")
    if kind is not None and model_kind(payload) != kind:
        raise CheckpointError(f"{path} holds {_describe(model_kind(payload))}; this needs {_describe(kind)}")
    return payload


def model_kind(payload: dict) -> str:
    return payload.get("model_kind", "npi")


def _describe(kind: str) -> str:
    known = {"npi": "an NPI model", "seq2seq": "a seq2seq baseline", "rlntm": "an RL-NTM"}
    return known.get(kind, f"a {kind!r} model")


def load_model(payload: dict, device: str | torch.device = "cpu") -> NPI:
    """Build the model a checkpoint describes and load its weights."""
    if model_kind(payload) != "npi":
        raise CheckpointError(f"this checkpoint holds {_describe(model_kind(payload))}, not an NPI model")
    config = dict(payload["model_config"])
    config["obs_sizes"] = tuple(tuple(sizes) for sizes in config["obs_sizes"])
    base = config.get("base_programs", ())  # a single count in files written before 2026-11-22
    config["base_programs"] = tuple(base) if isinstance(base, list | tuple) else ((base,) if base else ())
    model = NPI(NPIConfig(**config))
    try:
        model.load_state_dict(payload["model"])
    except RuntimeError as e:
        raise CheckpointError(f"checkpoint weights do not match its model config ({_one_line(e)})") from None
    return model.to(device)


def load_seq2seq(payload: dict, device: str | torch.device = "cpu") -> Seq2Seq:
    """Build the seq2seq baseline a checkpoint describes and load its weights."""
    if model_kind(payload) != "seq2seq":
        raise CheckpointError(
            f"this checkpoint holds {_describe(model_kind(payload))}, not a seq2seq baseline"
        )
    try:
        model = Seq2Seq(Seq2SeqConfig(**payload["model_config"]))
        model.load_state_dict(payload["model"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"checkpoint weights do not match its model config ({_one_line(e)})") from None
    return model.to(device)


def load_rlntm(payload: dict, device: str | torch.device = "cpu") -> RLNTM:
    """Build the RL-NTM a checkpoint describes and load its weights."""
    if model_kind(payload) != "rlntm":
        raise CheckpointError(f"this checkpoint holds {_describe(model_kind(payload))}, not an RL-NTM")
    try:
        model = RLNTM(RLNTMConfig(**payload["model_config"]))
        model.load_state_dict(payload["model"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"checkpoint weights do not match its model config ({_one_line(e)})") from None
    return model.to(device)


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split())[:160]
