"""Checkpoints: one file with weights, configs, program set, env id and library version.

The file is a torch zip holding only tensors and plain Python values; it is written to a temp file and
renamed into place (atomic), and read with `weights_only=True`, so loading never runs pickled code.
`model_kind` names the model's family ("npi", "seq2seq" or "rlntm" for the built-in ones); the model
class says how to rebuild itself from the stored config (see `load_model`).

`load` reads and checks the header; `load_model` builds the model a checkpoint describes and checks it
against its task: the config parses, the program set and the observation spec are the task's, and the
weights have the config's shapes. Anything else is a `CheckpointError` with a one-line message.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from neuralprog import __version__

FORMAT = "neuralprog-checkpoint"
VERSION = 2


class CheckpointError(ValueError):
    """A checkpoint that is missing, damaged, foreign or for another task."""


def save(path: str | Path, kind: str, model: nn.Module, task: str, **fields: Any) -> Path:
    """Write a checkpoint atomically: format, versions, task, model kind, config and weights, plus
    `fields` (plain values: program set, env id, preset, progress, optimizer state...)."""
    config = getattr(model, "config", None)
    if config is None or not dataclasses.is_dataclass(config):
        raise TypeError("a model must keep its config (a dataclass) as model.config to be saved")
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "library_version": __version__,
        "task": task,
        "model_kind": kind,
        "model_config": asdict(config),  # type: ignore[arg-type]
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        **fields,
    }
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        torch.save(payload, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def load(path: str | Path, task: str | None = None, kind: str | None = None) -> dict:
    """Read a checkpoint's payload and check its header; with `task` it must be a checkpoint of that
    task, with `kind` one of that model kind."""
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
    for name, expected in (("task", str), ("model_config", dict), ("model", dict)):
        if not isinstance(payload.get(name), expected):
            raise CheckpointError(f"{path} is damaged: its {name!r} entry is missing or malformed")
    if task is not None and payload["task"] != task:
        raise CheckpointError(f"{path} is a checkpoint of task {payload['task']!r}, not {task!r}")
    if kind is not None and model_kind(payload) != kind:
        raise CheckpointError(f"{path} holds a {model_kind(payload)!r} model; this needs a {kind!r} model")
    return payload


def model_kind(payload: dict) -> str:
    return str(payload.get("model_kind", "npi"))


def load_model(payload: dict, model_class: Any, task: Any = None, device: str | torch.device = "cpu") -> Any:
    """Build the model a checkpoint describes and load its weights. With `task`, the model must be able
    to run it: same program set and observation spec as the task it was trained on.

    `model_class` says how: its class attributes `kind` (as stored), `title` (for messages) and
    `config_type` (the config dataclass), and its static methods `upgrade_config(dict) -> dict` (a config
    stored by an earlier version, in today's form) and `mismatch(config, payload, task) -> str | None`
    (why the model cannot run the task). NPI, Seq2Seq and RLNTM have them."""
    if model_kind(payload) != model_class.kind:
        raise CheckpointError(
            f"this checkpoint holds a {model_kind(payload)!r} model, not {model_class.title}"
        )
    try:
        stored = model_class.upgrade_config(dict(payload["model_config"]))
        config = config_from_json(model_class.config_type, stored)
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"the checkpoint's model config is malformed ({_one_line(e)})") from None
    if task is not None:
        problem = model_class.mismatch(config, payload, task)
        if problem:
            raise CheckpointError(f"this checkpoint cannot run the library's {task.name!r} task: {problem}")
    try:
        model = model_class(config)
        model.load_state_dict(payload["model"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"checkpoint weights do not match its model config ({_one_line(e)})") from None
    return model.to(device)


def config_from_json(config_type: type, data: object) -> Any:
    """A config dataclass from plain JSON values, checked field by field: no unknown or missing field,
    every value of its annotated type (lists become tuples)."""
    if not isinstance(data, dict):
        raise ValueError(f"expected an object, got {type(data).__name__}")
    hints = typing.get_type_hints(config_type)
    fields = {f.name: f for f in dataclasses.fields(config_type)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(unknown)}")
    values = {}
    for name, f in fields.items():
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ValueError(f"missing field {name!r}")
            continue
        values[name] = _typed(data[name], hints[name], name)
    return config_type(**values)


def _typed(value: Any, hint: Any, name: str) -> Any:
    """`value` checked against a type annotation (int, float, bool, str, tuples, unions, None)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        for option in args:
            try:
                return _typed(value, option, name)
            except ValueError:
                pass
        raise ValueError(f"field {name!r} has a value of the wrong type: {value!r}")
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ValueError(f"field {name!r} must be a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_typed(v, args[0], name) for v in value)
        if len(args) != len(value):
            raise ValueError(f"field {name!r} must hold {len(args)} values, got {value!r}")
        return tuple(_typed(v, a, name) for v, a in zip(value, args, strict=True))
    if hint is type(None):
        if value is not None:
            raise ValueError(f"field {name!r} must be null")
        return None
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hint in (int, str, bool) and type(value) is hint:
        return value
    raise ValueError(f"field {name!r} must be {getattr(hint, '__name__', hint)}, got {value!r}")


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split())[:160]
