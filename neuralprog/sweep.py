"""Sweeps: many trainings (presets x seeds x overrides), each trained and evaluated as a Ray task, on
this machine or on a Ray cluster, with one table, one JSON file and plots at the end.

A sweep is described by a `SweepSpec` (a TOML file, flags, or both). Each `Trial` is one preset with
one seed and one set of `--set` overrides; `run_trial` trains it in a scratch directory, evaluates it
and returns its figures with the bytes of its run directory (checkpoint, metrics, TensorBoard events),
which the driver writes under the sweep directory. So the cluster needs no shared filesystem, and a
trial whose result file is present and valid is never run again: rerunning a sweep runs only what is
missing. A trial that raises, or whose worker or node dies, is retried (`retries`), then recorded with
its one-line error while the others go on.

    presets = ["addition-tiny"]          # every preset ...
    seeds = [0, 1]                       # ... with every seed ...
    [grid]                               # ... and every combination of these values
    "train.lr" = [1e-3, 3e-4]
    [[variants]]                         # optional: explicit override sets, each crossed with the grid
    "train.updates" = 200
    [eval]                               # what each finished run is scored on
    sizes = [10]                         # or: scale = [1, 2, 5] (multiples of the trained size)
    n = 100
    [[plots]]                            # metric against a swept field, one line per group
    y = "accuracy@10"
    x = "train.lr"
    group = "preset"
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # the sweep extra installs tomli there
    import tomli as tomllib

SPEC_KEYS = {
    "name",
    "presets",
    "seeds",
    "grid",
    "variants",
    "eval",
    "plots",
    "cpus_per_trial",
    "retries",
    "out",
}
RESULT = "result.json"
"""A finished trial's record in its directory, written last: its presence marks the trial done."""


class SweepError(ValueError):
    """A sweep that cannot start (bad spec, unreachable cluster, Ray missing); one line says why."""


@dataclass(frozen=True)
class EvalSpec:
    """How each finished run is scored: exact-match accuracy (halted and right) on random problems."""

    sizes: tuple[int, ...] = ()
    """Problem sizes to test (empty: see `scale`)."""
    scale: tuple[float, ...] = (1.0,)
    """Used when `sizes` is empty: multiples of the run's trained size (an NPI's largest training
    size, an RL-NTM's top curriculum size)."""
    n: int = 100
    """Random problems per size."""
    seed: int = 1000
    """Problems are drawn with seed `seed + the trial's seed`."""


@dataclass(frozen=True)
class SweepSpec:
    """A grid of trainings (see the module docstring)."""

    name: str
    """The sweep's name (its directory under runs/sweeps unless `out` is given)."""
    presets: tuple[str, ...]
    """Presets to train."""
    seeds: tuple[int, ...] = (0,)
    """Training seeds (`train.seed`)."""
    grid: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    """(SECTION.FIELD, values): every combination is a setting."""
    variants: tuple[tuple[tuple[str, Any], ...], ...] = ((),)
    """Explicit override sets, each crossed with the grid (one empty set: none)."""
    fixed: tuple[str, ...] = ()
    """SECTION.FIELD=VALUE overrides every trial gets (`--set`)."""
    eval: EvalSpec = field(default_factory=EvalSpec)
    """What each finished run is scored on."""
    plots: tuple[tuple[str, str, str], ...] = ()
    """(y metric, x field, group field) plots written at the end."""
    cpus_per_trial: int = 1
    """CPUs Ray reserves for a trial, and its torch threads."""
    retries: int = 2
    """Further attempts of a trial that raised or whose worker died, before it is recorded as failed."""
    out: Path | None = None
    """The sweep directory (None: runs/sweeps/NAME)."""

    @property
    def directory(self) -> Path:
        return self.out or Path("runs/sweeps") / self.name


@dataclass(frozen=True)
class Trial:
    """One training: a preset, a seed and overrides (SECTION.FIELD, value as written in the spec)."""

    preset: str
    seed: int
    overrides: tuple[tuple[str, Any], ...] = ()
    fixed: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        """A readable, unique directory name."""
        parts = [self.preset, f"seed{self.seed}", *(f"{k}={_text(v)}" for k, v in self.overrides)]
        name = re.sub(r"[^A-Za-z0-9_.=,:+-]", "_", "-".join(parts))
        if self.fixed or len(name) > 120:  # keep names short; the hash tells settings apart
            digest = hashlib.sha256(repr((self.overrides, self.fixed)).encode()).hexdigest()[:8]
            name = f"{name[:100]}-{digest}"
        return name

    @property
    def assignments(self) -> list[str]:
        """The `--set` overrides that make this trial's preset from the named one."""
        return [*self.fixed, *(f"{k}={_text(v)}" for k, v in self.overrides), f"train.seed={self.seed}"]

    def fields(self) -> dict[str, Any]:
        """The swept fields of this trial, for tables and plots."""
        return {"preset": self.preset, "seed": self.seed, **dict(self.overrides)}


def _text(value: Any) -> str:
    """A spec value as `--set` reads it: lists become comma-separated."""
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


# ---------------------------------------------------------------------------------------------------
# the spec


def load_spec(path: str | Path | None, **flags: Any) -> SweepSpec:
    """A spec from a TOML file, flags, or both (flags win; `fixed` overrides add up). Checks every trial's
    preset and overrides, so a bad spec fails here, before anything starts."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise SweepError(f"no sweep spec at {path}") from None
        except OSError as e:
            raise SweepError(f"cannot read {path}: {e.strerror or e}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise SweepError(f"{path} is not valid TOML ({e})") from None
        unknown = set(raw) - SPEC_KEYS
        if unknown:
            raise SweepError(
                f"{path}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(SPEC_KEYS))}"
            )
    try:
        given = {k: v for k, v in flags.items() if v is not None and k != "fixed"}
        if "eval" in given:  # flags refine the spec's evaluation and add plots to its own
            given["eval"] = {**raw.get("eval", {}), **given["eval"]}
        if "plots" in given:
            given["plots"] = [*raw.get("plots", []), *given["plots"]]
        raw = {**raw, **given}
        presets = _strings(raw.get("presets"), "presets")
        spec = SweepSpec(
            name=str(raw.get("name", Path(path).stem if path is not None else "-".join(presets))),
            presets=presets,
            seeds=tuple(_integer(s, "seeds") for s in _list(raw.get("seeds", [0]), "seeds")),
            grid=_grid(raw.get("grid", {})),
            variants=_variants(raw.get("variants", [])),
            fixed=tuple(flags.get("fixed") or ()),
            eval=_eval(raw.get("eval", {})),
            plots=_plots(raw.get("plots", [])),
            cpus_per_trial=_integer(raw.get("cpus_per_trial", 1), "cpus_per_trial", least=1),
            retries=_integer(raw.get("retries", 2), "retries", least=0),
            out=Path(raw["out"]) if raw.get("out") else None,
        )
    except (TypeError, ValueError) as e:  # SweepError is a ValueError
        raise SweepError(str(e)) from None
    for trial in trials(spec):
        preset_of(trial)  # unknown presets and fields fail here
    return spec


def _list(value: Any, key: str) -> list:
    if not isinstance(value, list) or not value:
        raise SweepError(f"{key} must be a non-empty list, got {value!r}")
    return value


def _strings(value: Any, key: str) -> tuple[str, ...]:
    items = _list(value, key)
    if not all(isinstance(v, str) and v for v in items):
        raise SweepError(f"{key} must list names, got {value!r}")
    return tuple(items)


def _integer(value: Any, key: str, least: int = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise SweepError(f"{key}: expected a whole number of at least {least}, got {value!r}")
    return value


def _field_name(key: Any) -> str:
    if not isinstance(key, str) or key.count(".") != 1:
        raise SweepError(f"an override field is SECTION.FIELD (like train.lr), got {key!r}")
    return key


def _grid(value: Any) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    if not isinstance(value, dict):
        raise SweepError(f"grid must be a table of SECTION.FIELD = [values], got {value!r}")
    return tuple((_field_name(k), tuple(_list(v, f"grid {k!r}"))) for k, v in value.items())


def _variants(value: Any) -> tuple[tuple[tuple[str, Any], ...], ...]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise SweepError(f"variants must be a list of tables of SECTION.FIELD = value, got {value!r}")
    return tuple(tuple((_field_name(k), v) for k, v in variant.items()) for variant in value) or ((),)


def _eval(value: Any) -> EvalSpec:
    if not isinstance(value, dict) or set(value) - {"sizes", "scale", "n", "seed"}:
        raise SweepError(f"eval takes sizes, scale, n and seed, got {value!r}")
    sizes = tuple(_integer(s, "eval.sizes", least=1) for s in value.get("sizes", []))
    scale = value.get("scale", [1.0])
    if (
        not isinstance(scale, list)
        or not scale
        or not all(isinstance(s, int | float) and not isinstance(s, bool) and s > 0 for s in scale)
    ):
        raise SweepError(f"eval.scale must list positive numbers, got {scale!r}")
    return EvalSpec(
        sizes=sizes,
        scale=tuple(float(s) for s in scale),
        n=_integer(value.get("n", 100), "eval.n", least=1),
        seed=_integer(value.get("seed", 1000), "eval.seed"),
    )


def _plots(value: Any) -> tuple[tuple[str, str, str], ...]:
    if not isinstance(value, list) or not all(isinstance(p, dict) and {"y", "x"} <= set(p) for p in value):
        raise SweepError(f"plots must be a list of tables with y, x and optionally group, got {value!r}")
    return tuple((str(p["y"]), str(p["x"]), str(p.get("group", "preset"))) for p in value)


def trials(spec: SweepSpec) -> list[Trial]:
    """Every trial of the sweep, in a fixed order (preset, setting, seed)."""
    keys = [k for k, _ in spec.grid]
    settings = []
    for variant in spec.variants:
        for values in itertools.product(*(v for _, v in spec.grid)):
            settings.append((*variant, *zip(keys, values, strict=True)))
    return [
        Trial(preset, seed, tuple(setting), spec.fixed)
        for preset in spec.presets
        for setting in settings
        for seed in spec.seeds
    ]


def preset_of(trial: Trial) -> Any:
    """The trial's preset with its overrides applied (a SweepError names what is wrong)."""
    from neuralprog.families import family_of_preset
    from neuralprog.presets import get_preset, override

    try:
        preset = override(get_preset(trial.preset), trial.assignments)
        family = family_of_preset(preset)
    except ValueError as e:
        raise SweepError(f"trial {trial.id}: {e}") from None
    if family.kind == "ntp":
        raise SweepError(f"{trial.preset}: sweeps score runs by problem size; NTP presets are not swept yet")
    return preset


def test_sizes(preset: Any, task: Any, spec: EvalSpec) -> list[int]:
    """The sizes a trial is evaluated at: the spec's, or multiples of the trained size."""
    if spec.sizes:
        return list(spec.sizes)
    data_sizes = getattr(getattr(preset, "data", None), "sizes", None)
    trained = max(data_sizes) if data_sizes else (preset.train.top_size or task.top_size)
    return sorted({max(1, round(trained * s)) for s in spec.scale})


# ---------------------------------------------------------------------------------------------------
# one trial (runs in a Ray worker)


def run_trial(trial: Trial, eval_spec: EvalSpec, threads: int) -> dict:
    """Train and evaluate one trial in a scratch directory. Returns {"result": figures, "files": {name:
    bytes}} so that the driver can keep everything without a shared filesystem."""
    import torch

    from neuralprog.evaluate import evaluate
    from neuralprog.families import family_of_preset, load

    torch.set_num_threads(threads)
    preset = preset_of(trial)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="neuralprog-trial-") as scratch:
        out = Path(scratch) / "run"
        path = family_of_preset(preset).train(preset, out, resume=False, log=lambda _: None, progress=False)
        loaded = load(path)
        payload = loaded.payload
        sizes = test_sizes(preset, loaded.task, eval_spec)
        results = evaluate(
            loaded.model, loaded.task, sizes, eval_spec.n, seed=eval_spec.seed + trial.seed, batch=eval_spec.n
        )
        files = {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    result = {
        "trial": trial.id,
        **trial.fields(),
        "status": "ok",
        "updates": int(payload.get("update", 0)),
        "train_seconds": round(float(payload.get("elapsed", 0.0)), 3),
        **({"solved": bool(payload["solved"])} if "solved" in payload else {}),
        **({"verified": bool(payload["verified"])} if payload.get("verified") is not None else {}),
        **{f"accuracy@{r.size}": r.accuracy for r in results},
        **{f"halted@{r.size}": r.halted_share for r in results},
        "seconds": round(time.perf_counter() - started, 3),
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }
    return {"result": result, "files": files}


# ---------------------------------------------------------------------------------------------------
# the sweep directory


class Store:
    """The sweep directory: trials/ID/ holds a trial's run files and, written last, result.json (with
    the files' SHA-256, so a damaged or partial trial counts as not done)."""

    def __init__(self, root: Path):
        self.root = root

    def trial_dir(self, trial: Trial) -> Path:
        return self.root / "trials" / trial.id

    def done(self, trial: Trial) -> dict | None:
        """The trial's result when it finished, its files are intact and it was trained with the preset as
        it is today (a kept trial of a preset whose recipe has changed since trains again)."""
        from neuralprog.presets import same_preset

        path = self.trial_dir(trial) / RESULT
        try:
            record = json.loads(path.read_text())
            for name, digest in record["files"].items():
                if hashlib.sha256((path.parent / name).read_bytes()).hexdigest() != digest:
                    return None
            config = path.parent / "config.json"
            if config.exists() and not same_preset(json.loads(config.read_text()), preset_of(trial)):
                return None
            return dict(record["result"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def save(self, trial: Trial, returned: dict) -> dict:
        directory = self.trial_dir(trial)
        shutil.rmtree(directory, ignore_errors=True)  # what an earlier attempt or recipe left there
        directory.mkdir(parents=True)
        digests = {}
        for name, data in returned["files"].items():
            _write_atomic(directory / name, data)
            digests[name] = hashlib.sha256(data).hexdigest()
        record = {"result": returned["result"], "files": digests}
        _write_atomic(directory / RESULT, (json.dumps(record, indent=2) + "\n").encode())
        return dict(returned["result"])

    def fail(self, trial: Trial, error: str) -> dict:
        directory = self.trial_dir(trial)
        directory.mkdir(parents=True, exist_ok=True)
        _write_atomic(directory / "error.txt", (error + "\n").encode())
        return {"trial": trial.id, **trial.fields(), "status": "failed", "error": error}


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------------
# running


@dataclass
class Tally:
    """The sweep's progress, for the live view."""

    total: int
    reused: int = 0
    done: int = 0
    failed: int = 0
    running: int = 0
    slots: int = 1
    """Trials that run at once: the CPUs of the Ray instance or cluster, over the CPUs per trial."""
    durations: list[float] = field(default_factory=list)

    def eta(self) -> float:
        """Seconds left: the mean trial time so far, over what is left, `slots` at a time."""
        left = self.total - self.reused - self.done - self.failed
        if not self.durations or left <= 0:
            return math.nan if left > 0 else 0.0
        return sum(self.durations) / len(self.durations) * math.ceil(left / self.slots)


def check_address(address: str | None) -> None:
    """Fail fast on a cluster address that nothing answers at (Ray itself waits a long time)."""
    if address in (None, "auto", "local"):
        return
    assert address is not None
    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise SweepError(f"a Ray address is HOST:PORT, ray://HOST:PORT or auto, got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as e:
        raise SweepError(f"cannot reach a Ray cluster at {address} ({e.strerror or e})") from None


def run_sweep(
    spec: SweepSpec,
    address: str | None = None,
    cpus: int | None = None,
    on_change: Callable[[Tally], None] = lambda _: None,
    log: Callable[[str], None] = print,
) -> list[dict]:
    """Run every trial not done yet as a Ray task; returns every trial's row (done, new or failed), in
    the spec's order. `address`: None starts a local Ray instance (`cpus` CPUs, default all) that ends
    with the sweep; HOST:PORT, ray://HOST:PORT or auto joins a running cluster."""
    check_address(address)
    try:
        import ray
        from ray.exceptions import RayError
    except ImportError:
        raise SweepError("sweeps run on Ray: pip install 'neuralprog[sweep]'") from None
    store = Store(spec.directory)
    every = trials(spec)
    rows: dict[str, dict] = {}
    for trial in every:
        kept = store.done(trial)
        if kept is not None:
            rows[trial.id] = kept
    todo = [t for t in every if t.id not in rows]
    tally = Tally(total=len(every), reused=len(rows))
    (spec.directory).mkdir(parents=True, exist_ok=True)
    if not todo:
        on_change(tally)
        return [rows[t.id] for t in every]
    log(f"{len(todo)} of {len(every)} trials to run ({len(rows)} done before) in {spec.directory}")
    _start_ray(ray, address, cpus)
    pending: dict[Any, Trial] = {}
    try:
        remote = ray.remote(run_trial).options(
            num_cpus=spec.cpus_per_trial, max_retries=spec.retries, retry_exceptions=True
        )
        pending = {remote.remote(t, spec.eval, spec.cpus_per_trial): t for t in todo}
        tally.slots = max(1, int(ray.cluster_resources().get("CPU", 1)) // spec.cpus_per_trial)
        tally.running = min(len(pending), tally.slots)
        on_change(tally)
        with _interrupt_flag() as interrupted:
            while pending and not interrupted.is_set():
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
                for ref in ready:
                    trial = pending.pop(ref)
                    try:
                        rows[trial.id] = store.save(trial, ray.get(ref))
                        tally.done += 1
                        tally.durations.append(rows[trial.id]["seconds"])
                    except RayError as e:
                        rows[trial.id] = store.fail(trial, _one_line(e))
                        tally.failed += 1
                        error = rows[trial.id]["error"]
                        log(f"trial {trial.id} failed after {spec.retries + 1} attempts: {error}")
                tally.running = min(len(pending), tally.slots)
                on_change(tally)
        if interrupted.is_set():
            raise KeyboardInterrupt
    except KeyboardInterrupt:  # what finished is saved already; stop the rest
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    finally:
        if address is None:
            ray.shutdown()
    return [rows[t.id] for t in every]


@contextlib.contextmanager
def _interrupt_flag() -> Iterator[threading.Event]:
    """An event that Ctrl-C (SIGINT) sets while the block runs, in place of a KeyboardInterrupt that
    could land inside Ray's calls (which do not always pass it on) or halfway through saving a trial."""
    flag = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield flag  # signals reach only the main thread; there, Ctrl-C raises as usual
        return
    previous = signal.signal(signal.SIGINT, lambda *_: flag.set())
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def _start_ray(ray: Any, address: str | None, cpus: int | None) -> None:
    import logging

    options = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    try:
        if address is None:  # "local": a new instance, even where another Ray runs on this machine
            # Ray starts workers at nice 15, which starves trials beside any other busy process; they
            # are the work here, so they run at the driver's priority.
            os.environ.setdefault("RAY_worker_niceness", "0")
            ray.init(address="local", num_cpus=cpus or os.cpu_count(), **options)
        else:
            ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise SweepError(
            f"cannot start or join Ray at {address or 'this machine'} ({_one_line(e)})"
        ) from None


def _one_line(error: BaseException) -> str:
    """The last meaningful line of an error (Ray wraps a trial's exception in its traceback)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return (lines[-1] if lines else type(error).__name__)[:300]


# ---------------------------------------------------------------------------------------------------
# reporting


def metric_names(rows: list[dict]) -> list[str]:
    """The metrics the rows carry, in a stable order (fields and bookkeeping left out)."""
    skip = {"trial", "preset", "seed", "status", "error", "host", "pid"}
    names: list[str] = []
    for row in rows:
        for key in row:
            if key not in skip and "." not in key and key not in names:
                names.append(key)
    return names


def swept_fields(spec: SweepSpec) -> list[str]:
    return [
        "preset",
        *(k for k, _ in spec.grid),
        *dict.fromkeys(k for v in spec.variants for k, _ in v),
        "seed",
    ]


def iter_cells(rows: list[dict], columns: list[str]) -> Iterator[list[str]]:
    for row in rows:
        yield [_cell(row.get(c)) for c in columns]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def write_results(spec: SweepSpec, rows: list[dict]) -> Path:
    """results.json: the spec and every trial's row."""
    path = spec.directory / "results.json"
    record = {
        "name": spec.name,
        "presets": spec.presets,
        "seeds": spec.seeds,
        "grid": {k: list(v) for k, v in spec.grid},
        "variants": [dict(v) for v in spec.variants],
        "fixed": list(spec.fixed),
        "eval": {
            "sizes": spec.eval.sizes,
            "scale": spec.eval.scale,
            "n": spec.eval.n,
            "seed": spec.eval.seed,
        },
        "trials": rows,
    }
    _write_atomic(path, (json.dumps(record, indent=2) + "\n").encode())
    return path


def plot(rows: list[dict], y: str, x: str, group: str, path: Path) -> Path:
    """`y` against `x`, one line per value of `group`, the mean over the other fields (seeds) with
    each trial as a dot. Failed trials are left out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if r.get("status") == "ok" and y in r and x in r]
    if not ok:
        raise SweepError(f"no finished trial has both {y!r} and {x!r} to plot")
    fig, ax = plt.subplots(figsize=(6, 4))
    for name in dict.fromkeys(_cell(r.get(group)) for r in ok):
        mine = [r for r in ok if _cell(r.get(group)) == name]
        xs = sorted(dict.fromkeys(r[x] for r in mine), key=_order)
        means = [
            float(sum(_number(r[y]) for r in mine if r[x] == v) / sum(r[x] == v for r in mine)) for v in xs
        ]
        positions = [_order(v) for v in xs]
        (line,) = ax.plot(positions, means, marker="o", label=f"{group}={name}")
        ax.scatter(
            [_order(r[x]) for r in mine],
            [_number(r[y]) for r in mine],
            color=line.get_color(),
            s=10,
            alpha=0.4,
        )
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    if all(isinstance(r[x], int | float) and r[x] > 0 for r in ok) and max(r[x] for r in ok) > 10 * min(
        r[x] for r in ok
    ):
        ax.set_xscale("log")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _number(value: Any) -> float:
    return float(value) if not isinstance(value, bool) else float(int(value))


def _order(value: Any) -> Any:
    return value if isinstance(value, int | float) else str(value)
