"""The `neuralprog` command: thin verbs over the library's importable functions.

A user error (bad input, missing or damaged file, unknown name) prints one line to stderr and exits 2;
it never shows a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from neuralprog import __version__

EXIT_USER_ERROR = 2


class UserError(Exception):
    """An error the user can fix; main() prints its one-line message."""


def _device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {name!r} requested but no CUDA GPU is available; use --device cpu")
    return name


def _load(path: str, device: str = "cpu"):
    """A checkpoint of any family, checked against its task (`neuralprog.families.load`)."""
    from neuralprog.families import load

    return load(path, _device(device))


def _programs_only(loaded, path: str, verb: str) -> None:
    if not loaded.family.calls_programs:
        raise UserError(f"{path} holds {loaded.family.title}; {verb} applies to models that call programs")


def _writable(path: str | Path, what: str, force: bool = True) -> Path:
    """Check, before any work, that `path` can be written: its directory exists and is writable, it is
    not a directory, and (without `force`) it does not exist yet."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{what} {path} is a directory; give a file path")
    if path.exists() and not force:
        raise UserError(f"{path} already exists; choose another path or pass --force to replace it")
    parent = path.parent
    if not parent.is_dir():
        raise UserError(f"cannot write {what} {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UserError(f"cannot write {what} {path}: permission denied")
    return path


def _run_dir(path: str | Path) -> Path:
    """A run directory that `train` can create or continue: the nearest existing ancestor is a writable
    directory and nothing on the way is a file."""
    path = Path(path)
    ancestor = path
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UserError(f"cannot create run directory {path}: {ancestor} is a file")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise UserError(f"cannot create run directory {path}: {ancestor} is not writable")
    return path


def _only(task, name: str | None):
    """A multitask model's task restricted to one of its tasks (`--task`)."""
    from neuralprog.multitask import MultiTask

    if name is None:
        return task
    if not isinstance(task, MultiTask):
        if name != task.name:
            raise UserError(f"this is a {task.name} model; --task {name} applies only to multitask models")
        return task
    return task.only(name)


def _split(loaded, task, split: str | None, noise: float | None):
    """Block stacking: a task whose random problems come from one split of the run's protocol, and
    whose worlds have placement noise. Cars: random problems on the seen or the unseen car models."""
    from neuralprog.envs.cars.canonicalize import CarsTask
    from neuralprog.envs.tabletop.tasks import BlockStacking
    from neuralprog.multitask import MultiTask

    cars = task
    if isinstance(task, MultiTask) and len(task.sample_from) == 1:
        cars = task.parts[task.sample_from[0]]
    if isinstance(cars, CarsTask):
        if noise:
            raise UserError("--noise applies to block-stacking models")
        try:
            view = cars.view(split or "seen")
        except ValueError as e:
            raise UserError(str(e)) from None
        return task.with_part(view) if isinstance(task, MultiTask) else view
    if not isinstance(loaded.task, BlockStacking):
        raise UserError("--split applies to block-stacking and cars models (--task cars for a multitask one)")
    train_tasks = int(loaded.payload.get("preset", {}).get("data", {}).get("train_tasks", 1000))
    return loaded.task.view(split, train_tasks, noise)


def _backend(loaded, task, args: argparse.Namespace):
    """The task in the backend `--backend` names, its demonstrations filmed with `--video`."""
    backend, video = getattr(args, "backend", "kinematic"), getattr(args, "video", False)
    if backend == "kinematic" and not video:
        return task
    if loaded.family.kind != "ntp":
        raise UserError("--backend and --video apply to tabletop (NTP) models")
    return task.using(backend, video)


def _sizes(text: str, option: str = "--lengths") -> list[int]:
    try:
        sizes = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UserError(f"bad {option} {text!r}; use comma-separated integers such as 10,100,1000") from None
    if not sizes or min(sizes) < 1:
        raise UserError(f"bad {option} {text!r}; every size must be at least 1")
    return sizes


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


# ---------------------------------------------------------------------------------------------------
# verbs


def cmd_train(args: argparse.Namespace) -> None:
    from neuralprog.families import family_of_preset
    from neuralprog.presets import get_preset, override
    from neuralprog.traces import read_traces

    preset = override(get_preset(args.preset), args.set or [])
    if args.seed is not None:
        preset = override(preset, [f"train.seed={args.seed}"])
    family = family_of_preset(preset)
    out = _run_dir(args.out or f"runs/{preset.name}" + ("" if args.seed is None else f"-seed{args.seed}"))
    traces = None
    if args.traces:
        if not family.calls_programs:
            raise UserError(f"{preset.name} trains {family.title}, which does not learn from --traces")
        traces = read_traces(args.traces, family.task(preset.task))
    path = family.train(
        preset,
        out,
        resume=args.resume,
        device=_device(args.device),
        traces=traces,
        log=_info,
        tensorboard=args.tensorboard,
    )
    print(path)


def cmd_eval(args: argparse.Namespace) -> None:
    from rich.console import Console
    from rich.table import Table

    from neuralprog.evaluate import evaluate, plot

    sizes = _sizes(args.lengths)
    if args.n < 1 or args.batch < 1:
        raise UserError("--n and --batch must be at least 1")
    for path, what in ((args.json, "--json"), (args.plot, "--plot")):
        if path:
            _writable(path, what)
    loaded = _load(args.checkpoint, args.device)
    task = _only(loaded.task, args.task)
    if args.split or args.noise:
        task = _split(loaded, task, args.split, args.noise)
    task = _backend(loaded, task, args)
    results = []
    for size in sizes:  # one size at a time so the table fills in as results arrive
        results += evaluate(loaded.model, task, [size], args.n, seed=args.seed, batch=args.batch)
        r = results[-1]
        _info(f"size {r.size}: {r.correct}/{r.n} correct, {r.halted}/{r.n} halted, in {r.seconds:.1f}s")
    title = f"{task.name}: {args.n} random problems per size" + (
        f" ({args.split} tasks)" if args.split else ""
    )
    table = Table(title=title)
    for column in ("size", "correct", "halted", "steps/problem", "seconds"):
        table.add_column(column, justify="right")
    for r in results:
        table.add_row(
            str(r.size),
            f"{100 * r.accuracy:.1f}%",
            f"{100 * r.halted_share:.1f}%",
            f"{r.mean_steps:.0f}",
            f"{r.seconds:.1f}",
        )
    Console().print(table)
    print(f"correct: halted with the right answer ({loaded.family.halting})")
    if args.json:
        _write_atomic(Path(args.json), json.dumps([r.to_json() for r in results], indent=2) + "\n")
    if args.plot:
        plot(results, args.plot, f"{task.name} ({Path(args.checkpoint).name})")


def cmd_solve(args: argparse.Namespace) -> None:
    from neuralprog.execute import check

    src = Path(args.problems)
    if not src.is_file():
        raise UserError(f"problems file not found: {src}")
    out = _writable(args.out, "--out", force=args.force)
    if args.batch < 1:
        raise UserError("--batch must be at least 1")
    loaded = _load(args.checkpoint, args.device)
    task = _backend(loaded, loaded.task, args)
    rows: list[dict[str, Any]] = []
    good: list[tuple[int, dict]] = []
    try:
        lines = src.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read problems file {src} ({e})") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as e:
            rows.append({"line": number, "error": f"not valid JSON ({e.msg})"})
            continue
        try:
            problem = task.parse(item)
        except ValueError as e:
            rows.append(
                {"problem": item, "error": str(e)}
                if isinstance(item, dict)
                else {"line": number, "error": str(e)}
            )
            continue
        rows.append(dict(item))
        good.append((len(rows) - 1, problem))
    if not rows:
        raise UserError(f"no problems in {src}; write one JSON problem per line, e.g. {task.problem_example}")
    for lo in range(0, len(good), args.batch):
        chunk = good[lo : lo + args.batch]
        problems = [p for _, p in chunk]
        result = loaded.family.run(loaded.model, task, problems)
        correct = check(task, problems, result)
        for k, (i, _) in enumerate(chunk):
            rows[i].update(
                output=result.outputs[k],
                halted=bool(result.halted[k]),
                correct=bool(correct[k]),
                steps=int(result.steps[k]),
            )
    _write_atomic(out, "".join(json.dumps(r) + "\n" for r in rows))
    solved = sum(1 for r in rows if r.get("correct"))
    halted = sum(1 for r in rows if r.get("halted"))
    errors = sum(1 for r in rows if "error" in r)
    _info(f"{len(rows)} problems: {solved} correct, {halted} halted, {errors} could not run")
    print(out)


def cmd_trace(args: argparse.Namespace) -> None:
    frames = getattr(args, "frames", None)
    if frames:
        _writable(frames, "--frames")
    page = getattr(args, "html", None)
    if page:
        if frames:
            raise UserError("--html and --frames each write the run; give one of them")
        _writable(page, "--html")
    loaded = _load(args.checkpoint, args.device)
    task = _backend(loaded, loaded.task, args)
    if args.oracle and not loaded.family.has_expert:
        _programs_only(loaded, args.checkpoint, "--oracle")
    options = {}
    if frames:
        if loaded.family.kind not in ("ntp", "npi"):
            raise UserError("--frames draws tabletop (NTP) and cars runs; this is neither")
        if loaded.family.kind == "ntp" and frames.lower().endswith(".gif") and task.backend != "mujoco":
            raise UserError("an animated --frames GIF is filmed in physics: add --backend mujoco")
        options["frames"] = frames
    try:
        problem = task.parse(json.loads(args.problem))
    except json.JSONDecodeError as e:
        raise UserError(f"--problem is not valid JSON ({e.msg}); example: {task.problem_example}") from None
    if page:
        from neuralprog.execute.page import write

        if loaded.family.page is None:
            raise UserError(f"{loaded.family.title} models have no trace page; trace without --html")

        title = f"{task.name}: " + ("the oracle" if args.oracle else f"the model of {args.checkpoint}")
        data = loaded.family.page(loaded.model, task, problem, oracle=args.oracle, title=title)
        verdict = data["verdict"]
        outcome = "correct" if verdict["correct"] else ("WRONG" if verdict["halted"] else "did not halt")
        _info(
            f"{verdict['steps']} steps, {outcome}" + (f"; {verdict['failure']}" if verdict["failure"] else "")
        )
        print(write(data, page))
        return
    loaded.family.show(loaded.model, task, problem, oracle=args.oracle, pad=args.pad, out=print, **options)


def cmd_verify(args: argparse.Namespace) -> int:
    from neuralprog.verify import verify

    loaded = _load(args.checkpoint, args.device)
    _programs_only(loaded, args.checkpoint, "verify")
    model, task = loaded.model, loaded.task
    try:
        task.verification_problems()
    except ValueError as e:
        raise UserError(f"task {task.name!r} has no verification set: {e}") from None
    result = verify(model, task, show=args.show)
    print(
        f"{task.name}: {result.frames} distinct call frames ({result.steps} steps) from "
        f"{result.problems} problems, checked in {result.seconds:.1f}s"
    )
    if result.verified:
        print("VERIFIED: the model equals the reference program on every frame of the verification set")
        return 0
    print(f"NOT VERIFIED: {result.wrong_frames} of {result.frames} frames differ from the oracle; the first:")
    for m in result.mismatches:
        print(f"\n{m.program}{m.args}")
        for t, (obs, oracle, chosen) in enumerate(m.steps):
            fields = " ".join(f"{n}={v}" for n, v in zip(task.obs_names, obs, strict=True))
            verdict = "" if oracle == chosen else f"   <-- model: {chosen}"
            print(f"  step {t}  {fields}  oracle: {oracle}{verdict}")
    return 1


def cmd_extend(args: argparse.Namespace) -> None:
    import dataclasses

    from neuralprog.train.extend import ExtendConfig, extend

    names = [p.strip() for p in args.programs.split(",") if p.strip()]
    if not names:
        raise UserError("--programs needs at least one program name, e.g. RJMP,MAX")
    config = ExtendConfig(seed=args.seed)
    if args.updates is not None:
        if args.updates < 1:
            raise UserError(f"--updates must be at least 1, got {args.updates}")
        config = dataclasses.replace(config, updates=args.updates)
    _run_dir(args.out)
    print(extend(args.checkpoint, names, args.out, config, device=_device(args.device), log=_info))


def cmd_demo(args: argparse.Namespace) -> None:
    from neuralprog import checkpoint
    from neuralprog.presets import Preset, get_preset
    from neuralprog.train.common import CHECKPOINT_NAME
    from neuralprog.train.supervised import train

    out = _run_dir(args.out)
    ckpt = out / CHECKPOINT_NAME
    finished = False
    if ckpt.exists():
        try:
            finished = bool(checkpoint.load(ckpt, task="addition").get("finished"))
        except checkpoint.CheckpointError as e:
            raise UserError(f"{e}; delete {out} to train the demo again") from None
    if finished:
        _info(f"reusing the model trained before in {ckpt}")
    else:
        _info("training the 'addition' preset (640 traces of 1-20 digits); a few minutes on a laptop CPU")
        preset = get_preset("addition")
        assert isinstance(preset, Preset)  # an NPI preset
        train(preset, out, resume=ckpt.exists(), device=_device(args.device), log=_info)
    _info("\none addition, step by step:")
    problem = '{"a": "96", "b": "25"}'
    cmd_trace(
        argparse.Namespace(
            checkpoint=str(ckpt),
            problem=problem,
            oracle=False,
            pad="none",
            device=args.device,
        )
    )
    _info(f"(to step through it in a browser: neuralprog trace {ckpt} --problem '{problem}' --html run.html)")
    _info("")
    cmd_eval(
        argparse.Namespace(
            checkpoint=str(ckpt),
            lengths=args.lengths,
            n=args.n,
            seed=0,
            batch=100,
            json=None,
            plot=None,
            task=None,
            split=None,
            noise=None,
            device=args.device,
        )
    )


def cmd_sweep(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table

    from neuralprog import sweep

    plots = []
    for text in args.plot or []:
        parts = text.split(":")
        if len(parts) not in (2, 3) or not all(parts):
            raise UserError(f"--plot takes METRIC:FIELD[:GROUP], got {text!r}")
        plots.append(dict(zip(("y", "x", "group"), parts, strict=False)))
    grid = {}
    for text in args.grid or []:
        key, sep, values = text.partition("=")
        if not sep or not values:
            raise UserError(f"--grid takes SECTION.FIELD=V1,V2,..., got {text!r}")
        grid[key] = [_scalar(v) for v in values.split(",")]
    evaluation: dict[str, Any] = {}
    if args.eval_sizes:
        evaluation["sizes"] = _sizes(args.eval_sizes, "--eval-sizes")
    if args.eval_n is not None:
        evaluation["n"] = args.eval_n
    spec = sweep.load_spec(
        args.spec,
        presets=args.presets and args.presets.split(","),
        seeds=args.seeds and _whole_numbers(args.seeds),
        grid=grid or None,
        eval=evaluation or None,
        plots=plots or None,
        cpus_per_trial=args.cpus_per_trial,
        retries=args.retries,
        out=args.out,
        fixed=args.set,
    )
    console = Console(stderr=True)

    def status(tally: sweep.Tally) -> str:
        eta = tally.eta()
        return (
            f"{spec.name}: {tally.reused + tally.done}/{tally.total} done ({tally.reused} before), "
            f"{tally.running} running, {tally.failed} failed"
            + ("" if eta != eta else f", ETA {eta:.0f}s")  # NaN until a trial finishes
        )

    with Live(console=console, transient=True, refresh_per_second=2) as live:
        try:
            rows = sweep.run_sweep(
                spec,
                address=args.address,
                cpus=args.cpus,
                on_change=lambda tally: live.update(status(tally)),
                log=lambda text: live.console.print(text),
            )
        except KeyboardInterrupt:
            kept = sum(sweep.Store(spec.directory).done(t) is not None for t in sweep.trials(spec))
            live.stop()
            print(
                f"neuralprog sweep: interrupted; {kept} finished trials are kept in {spec.directory}: "
                "run the same command to run the rest",
                file=sys.stderr,
            )
            return 130
    columns = [*sweep.swept_fields(spec), "status", *sweep.metric_names(rows)]
    table = Table(title=f"{spec.name}: {len(rows)} trials")
    for column in columns:
        table.add_column(column, justify="left" if column in ("preset", "status") else "right")
    for cells, row in zip(sweep.iter_cells(rows, columns), rows, strict=True):
        table.add_row(*cells)
        if row["status"] != "ok":
            table.add_row("", f"[red]{row['error']}[/red]", *[""] * (len(columns) - 2))
    Console(width=None if sys.stdout.isatty() else 250).print(table)  # a log file gets every column whole
    print(f"results: {sweep.write_results(spec, rows)}")
    for y, x, group in spec.plots:
        name = re.sub(r"[^A-Za-z0-9_.@=-]", "_", f"{y}-by-{x}-per-{group}") + ".png"
        print(f"plot: {sweep.plot(rows, y, x, group, spec.directory / 'plots' / name)}")
    return 1 if any(r["status"] != "ok" for r in rows) else 0


def _scalar(text: str) -> Any:
    """A --grid value: a number when it reads as one."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _whole_numbers(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",")]
    except ValueError:
        raise UserError(f"expected comma-separated whole numbers, got {text!r}") from None


def cmd_envs(args: argparse.Namespace) -> None:
    from neuralprog.envs import ENV_IDS
    from neuralprog.registry import TASKS

    names_of: dict[str, list[str]] = {}
    for task in TASKS.values():
        names_of.setdefault(task.env_id, []).append(task.name)
    for env_id in sorted(ENV_IDS):
        names = names_of.get(env_id, [])
        print(f"{env_id:<36} " + (f"tasks: {', '.join(names)}" if names else "Gym's algorithmic rules"))


def cmd_render(args: argparse.Namespace) -> None:
    import time

    from rich.progress import Progress

    from neuralprog.envs.cars.canonicalize import cache_dir
    from neuralprog.envs.cars.render import CarCache

    cache = CarCache(args.cache or cache_dir(), args.size)
    started = time.perf_counter()
    todo = len(cache.missing())
    if todo:
        with Progress(transient=True) as bar:
            job = bar.add_task(f"rendering {todo} car models at {args.size}px", total=todo)
            cache.build(lambda done, total: bar.update(job, completed=done))
    what = f"rendered {todo} models" if todo else "nothing to render"
    _info(f"{what} in {time.perf_counter() - started:.1f}s; {cache.n_models} models at {args.size}px")
    print(cache.root)


def cmd_gradcheck(args: argparse.Namespace) -> int:
    import numpy as np

    from neuralprog.registry import tape_task, tape_tasks
    from neuralprog.train.gradcheck import CONTROLLERS, TOLERANCE, check, wrong_action_log_probs

    tasks = tape_tasks() if args.task == "all" else [tape_task(args.task)]
    controllers = list(CONTROLLERS) if args.controller == "all" else [args.controller]
    if args.size not in (None, 1, 2) or not 0 <= args.extra_steps <= 2:
        raise UserError("--size must be 1 or 2 and --extra-steps 0..2 (the enumeration grows exponentially)")
    log_probs = wrong_action_log_probs if args.estimator == "wrong-action" else None
    print(f"estimator: {args.estimator}; pass: relative error < {TOLERANCE:g} on every direction")
    failed = 0
    for task in tasks:
        # Two symbols tell copy, reverse and duplicated-input apart; the larger action spaces take one.
        size = args.size or (1 if task.memory or task.name == "repeat-copy" else 2)
        problem = task.sample(np.random.default_rng(args.seed), size)
        for controller in controllers:
            r = check(task, CONTROLLERS[controller], [problem], args.extra_steps, args.seed, log_probs)
            failed += not r.passed
            verdict = "PASS" if r.passed else "FAIL"
            print(
                f"{task.name:<17} {controller:<12} {r.sequences:>5} sequences  "
                f"sum p {r.total_probability:.12f}  J = {r.objective:9.5f}  "
                f"worst relative error {r.worst_error:.1e}  {verdict}"
            )
            if args.verbose:
                for direction, analytic, numeric in r.directions:
                    print(
                        f"    {direction:<24} estimator {analytic: .10e}  finite difference {numeric: .10e}"
                    )
    print("all checks passed" if not failed else f"{failed} check(s) FAILED")
    return 1 if failed else 0


def cmd_data(args: argparse.Namespace) -> None:
    from neuralprog.registry import program_task
    from neuralprog.traces import generate, write_traces

    if _tabletop(args.task):
        return _tabletop_data(args)
    if args.backend:
        raise UserError("--backend applies to tabletop tasks and NTP presets")
    task = program_task(args.task)
    sizes = _size_range(args, "1:20")
    out = _writable(args.out, "--out", force=args.force)
    traces = generate(task, sizes, args.per_length, seed=args.seed)
    write_traces(out, traces)
    _info(f"{len(traces)} traces, {sum(len(t.steps) for t in traces)} steps")
    print(out)


def _size_range(args: argparse.Namespace, example: str) -> list[int]:
    """`data`'s --lengths LO:HI as a list of sizes, checked with --per-length."""
    try:
        lo, _, hi = args.lengths.partition(":")
        sizes = list(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        raise UserError(f"bad --lengths {args.lengths!r}; use LO:HI such as {example}") from None
    if not sizes or sizes[0] < 1 or args.per_length < 1:
        raise UserError("lengths must be at least 1 and --per-length at least 1")
    return sizes


def _tabletop(name: str) -> bool:
    from neuralprog.presets import PRESETS, NTPPreset
    from neuralprog.registry import tabletop_tasks

    return isinstance(PRESETS.get(name), NTPPreset) or name in {t.name for t in tabletop_tasks()}


def _tabletop_data(args: argparse.Namespace) -> None:
    """Expert traces of a tabletop task (or of an NTP preset's task, with its program hierarchy):
    --per-length random problems of each size (goals, or objects per category)."""
    import numpy as np

    from neuralprog.envs.tabletop.experts import record, write_traces
    from neuralprog.presets import PRESETS, NTPPreset
    from neuralprog.registry import tabletop_task

    preset = PRESETS.get(args.task)
    hierarchical = preset.data.hierarchical if isinstance(preset, NTPPreset) else True
    task = tabletop_task(preset.task if isinstance(preset, NTPPreset) else args.task)
    backend = preset.data.backend if isinstance(preset, NTPPreset) else "kinematic"
    task = task.using(args.backend or backend)
    sizes = _size_range(args, "2:4")
    out = _writable(args.out, "--out", force=args.force)
    rng = np.random.default_rng(args.seed)
    problems = [task.sample(rng, size) for size in sizes for _ in range(args.per_length)]
    traces = record(task, problems, hierarchical)
    write_traces(out, task, traces)
    _info(f"{len(traces)} traces, {sum(len(t.steps) for t in traces)} steps")
    print(out)


# ---------------------------------------------------------------------------------------------------


def _info(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split())


def _physics_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--backend",
        choices=["kinematic", "mujoco"],
        default="kinematic",
        help="NTP: the tabletop's simulator: kinematic (exact, instant; default) or mujoco (physics; "
        "needs pip install 'neuralprog[physics]')",
    )
    p.add_argument(
        "--video",
        action="store_true",
        help="NTP with --backend mujoco: film each demonstration and read it back with the colour detector",
    )


def build_parser() -> argparse.ArgumentParser:
    def verb(name: str, help_text: str, example: str) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=f"example:\n  {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.add_argument("--device", default="auto", help="cpu, cuda or auto (default: a GPU when present)")
        return p

    parser = argparse.ArgumentParser(
        prog="neuralprog", description="Neural programming models: NPI, NTP, RL-NTM."
    )
    parser.add_argument("--version", action="version", version=f"neuralprog {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    from neuralprog.presets import PRESETS

    p = verb(
        "train", "train a preset; prints the checkpoint path last", "neuralprog train addition --out runs/add"
    )
    p.add_argument("preset", help=f"one of: {', '.join(PRESETS)}")
    p.add_argument("--out", help="run directory (default runs/PRESET); an existing one needs --resume")
    p.add_argument("--seed", type=int, help="seed of traces, initial weights and batch order")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument(
        "--set", action="append", metavar="SECTION.FIELD=VALUE", help="override, e.g. train.lr=3e-4"
    )
    p.add_argument("--traces", help="train on this JSONL trace file instead of generating traces")
    p.add_argument(
        "--no-tensorboard",
        dest="tensorboard",
        action="store_false",
        help="write no TensorBoard event files (written beside metrics.jsonl when tensorboard is installed)",
    )
    p.set_defaults(func=cmd_train)

    p = verb(
        "eval",
        "exact-match accuracy per problem size",
        "neuralprog eval runs/addition/checkpoint.pt --lengths 10,100,1000",
    )
    p.add_argument("checkpoint")
    p.add_argument(
        "--lengths", default="10,100,1000,3000", help="comma-separated sizes (digits for addition)"
    )
    p.add_argument("--n", type=int, default=100, help="random problems per size")
    p.add_argument("--task", help="for a multitask model: evaluate this one of its tasks")
    p.add_argument(
        "--split",
        choices=["seen", "unseen", "permuted"],
        help="block stacking: draw tasks from the run's training tasks, the held-out ones (default) or "
        "the training towers built in another order; sizes are goals (1-6). cars: draw problems on the "
        "seen (default) or the unseen car models; sizes are camera moves",
    )
    p.add_argument(
        "--noise",
        type=float,
        help="block stacking: placement noise, the standard deviation (m) of a drop's xy jitter; a block "
        "more than 2.5 cm off the one beneath topples",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=100, help="problems run in lockstep at once")
    p.add_argument("--json", help="also write the results to this JSON file")
    p.add_argument("--plot", help="also plot accuracy against size to this PNG file")
    _physics_options(p)
    p.set_defaults(func=cmd_eval)

    p = verb(
        "solve",
        "run a model on a JSONL file of problems",
        "neuralprog solve CKPT --problems in.jsonl --out out.jsonl",
    )
    p.add_argument("checkpoint")
    p.add_argument("--problems", required=True, help='JSONL, one problem a line, e.g. {"a": "96", "b": "25"}')
    p.add_argument(
        "--out",
        required=True,
        help="JSONL results: the problem plus output, correct, steps, halted (or error)",
    )
    p.add_argument("--batch", type=int, default=100, help="problems run in lockstep at once")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    _physics_options(p)
    p.set_defaults(func=cmd_solve)

    p = verb(
        "trace",
        "show a model's execution step by step",
        'neuralprog trace CKPT --problem \'{"a": "96", "b": "25"}\' [--html run.html]',
    )
    p.add_argument("checkpoint")
    p.add_argument("--problem", required=True, help="one problem as JSON")
    p.add_argument(
        "--oracle", action="store_true", help="show the oracle's (reference program's) trace instead"
    )
    p.add_argument(
        "--pad", choices=["act", "all", "none"], default="act", help="when to draw the scratch pad"
    )
    p.add_argument(
        "--html",
        help="write the run as one self-contained HTML page to step through (call tree, the machine at "
        "every step, end probability and top scores, the first departure from the oracle) instead of "
        "printing it",
    )
    p.add_argument(
        "--frames",
        help="NTP: also draw the table after every API call to this PNG, or film the whole run in physics "
        "to this GIF (with --backend mujoco). cars: the camera's view at the start and after every move, "
        "with the pose and the target, as an animated GIF (.gif) or a PNG strip",
    )
    _physics_options(p)
    p.set_defaults(func=cmd_trace)

    p = verb(
        "verify",
        "check a recursive model on every situation its programs meet (exit 0: VERIFIED) or show differences",
        "neuralprog verify runs/sort-recursive/checkpoint.pt",
    )
    p.add_argument("checkpoint")
    p.add_argument("--show", type=int, default=5, help="how many differing frames to print")
    p.set_defaults(func=cmd_verify)

    p = verb(
        "extend",
        "add programs to a trained model, training only their embeddings and keys (the core stays frozen)",
        "neuralprog extend runs/multitask/checkpoint.pt --programs RJMP,MAX --out runs/multitask-max",
    )
    p.add_argument("checkpoint")
    p.add_argument("--programs", required=True, help="comma-separated names of the programs to add")
    p.add_argument("--out", required=True, help="directory of the extended model (must not exist)")
    p.add_argument("--updates", type=int, help="maximum number of updates (default 1500)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_extend)

    p = verb(
        "demo",
        "train addition (or reuse the run), trace one sum, print accuracy to 1,000 digits",
        "neuralprog demo",
    )
    p.add_argument("--out", default="runs/demo-addition", help="where the demo's run lives")
    p.add_argument("--lengths", default="10,100,1000")
    p.add_argument("--n", type=int, default=100)
    p.set_defaults(func=cmd_demo)

    p = verb(
        "gradcheck",
        "check the RL-NTM's REINFORCE gradient exactly by enumerating every action sequence (exit 0: pass)",
        "neuralprog gradcheck --task forward-reverse --controller all",
    )
    p.add_argument("--task", default="all", help="a tape task, or all (default)")
    p.add_argument(
        "--controller",
        default="all",
        choices=["all", "lstm", "direct", "direct-routed", "feedforward"],
        help="direct-routed: direct access with model.predict_from_state off",
    )
    p.add_argument(
        "--size",
        type=int,
        help="symbols in the problem, 1 or 2 (default: 2, or 1 for repeat-copy and forward-reverse)",
    )
    p.add_argument("--extra-steps", type=int, default=1, help="step bound beyond the target length (0-2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--estimator",
        default="reinforce",
        choices=["reinforce", "wrong-action"],
        help="wrong-action: a deliberately wrong estimator, which must fail",
    )
    p.add_argument("--verbose", action="store_true", help="print every direction's two derivatives")
    p.set_defaults(func=cmd_gradcheck)

    p = verb(
        "render",
        "render the car models of the canonicalization task into their cache (else done on first use)",
        "neuralprog render --size 64",
    )
    p.add_argument("--size", type=int, default=64, help="image side: 32, 64 (default) or 128 (the paper's)")
    p.add_argument(
        "--cache",
        help="cache directory (default: $NEURALPROG_CARS_CACHE, else ~/.cache/neuralprog/cars); train, "
        "eval, solve and trace read $NEURALPROG_CARS_CACHE",
    )
    p.set_defaults(func=cmd_render)

    p = verb(
        "sweep",
        "train and evaluate presets x seeds x overrides as Ray tasks (here, or on a cluster); resumable",
        "neuralprog sweep benchmarks/sweeps/table4.toml\n"
        "  neuralprog sweep --presets addition-tiny --seeds 0,1 --grid train.lr=1e-3,3e-4 --eval-sizes 10",
    )
    p.add_argument("spec", nargs="?", help="a TOML sweep spec (flags add to it or replace its entries)")
    p.add_argument("--presets", help="comma-separated presets")
    p.add_argument("--seeds", help="comma-separated seeds (default 0)")
    p.add_argument(
        "--grid", action="append", metavar="SECTION.FIELD=V1,V2", help="swept values; every combination runs"
    )
    p.add_argument("--set", action="append", metavar="SECTION.FIELD=VALUE", help="override for every trial")
    p.add_argument("--eval-sizes", help="comma-separated test sizes (default: the trained size)")
    p.add_argument("--eval-n", type=int, help="test problems per size (default 100)")
    p.add_argument(
        "--plot", action="append", metavar="METRIC:FIELD[:GROUP]", help="e.g. accuracy@10:train.lr"
    )
    p.add_argument("--out", help="sweep directory (default runs/sweeps/NAME)")
    p.add_argument("--cpus-per-trial", type=int, help="CPUs and torch threads per trial (default 1)")
    p.add_argument("--retries", type=int, help="further attempts of a failed trial (default 2)")
    p.add_argument(
        "--address",
        help="join a running Ray cluster (HOST:PORT, ray://HOST:PORT or auto) instead of starting one here",
    )
    p.add_argument("--cpus", type=int, help="CPUs of the local Ray instance (default: all)")
    p.set_defaults(func=cmd_sweep)

    p = verb("envs", "list the registered environments", "neuralprog envs")
    p.set_defaults(func=cmd_envs)

    p = verb(
        "data",
        "write oracle traces to a JSONL file",
        "neuralprog data addition --lengths 1:20 --per-length 32 --out add.jsonl\n"
        "  neuralprog data ntp-stacking --lengths 2:4 --per-length 10 --out stack.jsonl",
    )
    p.add_argument("task", help="a task, or an NTP preset (its task and program hierarchy)")
    p.add_argument("--lengths", default="1:20", help="LO:HI problem sizes")
    p.add_argument("--per-length", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.add_argument(
        "--backend",
        choices=["kinematic", "mujoco"],
        help="tabletop tasks: record the expert in this simulator (default: the preset's, else kinematic)",
    )
    p.set_defaults(func=cmd_data)
    return parser


def main(argv: list[str] | None = None) -> int:
    from neuralprog.checkpoint import CheckpointError
    from neuralprog.envs.mujoco_gl import PhysicsUnavailable
    from neuralprog.traces import TraceFormatError
    from neuralprog.train.common import TrainingError

    args = build_parser().parse_args(argv)
    try:
        status = args.func(args)
    except (UserError, CheckpointError, TraceFormatError, TrainingError, ValueError, PhysicsUnavailable) as e:
        print(f"neuralprog {args.command}: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"neuralprog {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as e:  # a write that fails after the checks (disk full, a path that vanished)
        where = f" {e.filename}" if e.filename else ""
        print(f"neuralprog {args.command}: error: cannot write{where}: {e.strerror or e}", file=sys.stderr)
        return EXIT_USER_ERROR
    return status or 0
