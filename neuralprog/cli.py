"""The `neuralprog` command: thin verbs over the library's importable functions.

A user error (bad input, missing or damaged file, unknown name) prints one line to stderr and exits 2;
it never shows a traceback.
"""

from __future__ import annotations

import argparse
import json
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


def _load(path: str, device: str = "cpu", answers_only: bool = False):
    """(model, task, payload). The model is an NPI or an RL-NTM; with `answers_only` (eval, solve) it may
    also be the seq2seq baseline."""
    from neuralprog import checkpoint
    from neuralprog.tasks import get_task

    payload = checkpoint.load(path, kind=None)
    kind = checkpoint.model_kind(payload)
    if kind == "rlntm":
        from neuralprog.envs.tapes import get_tape_task

        return checkpoint.load_rlntm(payload, _device(device)), get_tape_task(payload["task"]), payload
    task = get_task(payload["task"])
    if kind == "seq2seq":
        if not answers_only:
            raise UserError(
                f"{path} holds the seq2seq baseline, which answers without running programs: there is no "
                "execution to show or check (eval and solve take it)"
            )
        return checkpoint.load_seq2seq(payload, _device(device)), task, payload
    if payload["programs"] != task.programs.to_json():
        raise UserError(f"{path} was trained on another program set than this library's {task.name!r} task")
    return checkpoint.load_model(payload, _device(device)), task, payload


def _npi_only(model, path: str, verb: str) -> None:
    from neuralprog.models.npi import NPI

    if not isinstance(model, NPI):
        raise UserError(
            f"{path} holds an RL-NTM; {verb} applies to NPI models (trace, eval and solve take it)"
        )


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


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UserError(f"bad --lengths {text!r}; use comma-separated integers such as 10,100,1000") from None
    if not sizes or min(sizes) < 1:
        raise UserError(f"bad --lengths {text!r}; every length must be at least 1")
    return sizes


def _refuse_overwrite(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise UserError(f"{path} already exists; choose another path or pass --force to replace it")


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


# ---------------------------------------------------------------------------------------------------
# verbs


def cmd_train(args: argparse.Namespace) -> None:
    from neuralprog.presets import RLNTMPreset, Seq2SeqPreset, get_preset, override
    from neuralprog.traces import read_traces
    from neuralprog.train.supervised import train

    preset = override(get_preset(args.preset), args.set or [])
    if args.seed is not None:
        preset = override(preset, [f"train.seed={args.seed}"])
    out = Path(args.out or f"runs/{preset.name}" + ("" if args.seed is None else f"-seed{args.seed}"))
    if isinstance(preset, Seq2SeqPreset):
        from neuralprog.train.seq2seq import train_preset

        if args.resume:
            raise UserError(f"{preset.name} is a seq2seq preset, which cannot --resume; use a new --out")
        if args.traces:
            raise UserError(f"{preset.name} is a seq2seq preset: it learns from problems, not from --traces")
        print(train_preset(preset, out, device=_device(args.device), log=_info))
        return
    if isinstance(preset, RLNTMPreset):
        from neuralprog.train import reinforce

        if args.traces:
            raise UserError(f"{preset.name} is an RL-NTM preset: it learns from rewards, not from --traces")
        print(reinforce.train(preset, out, resume=args.resume, device=_device(args.device), log=_info))
        return
    traces = None
    if args.traces:
        from neuralprog.tasks import get_task

        traces = read_traces(args.traces, get_task(preset.task))
    path = train(preset, out, resume=args.resume, device=_device(args.device), traces=traces, log=_info)
    print(path)


def cmd_eval(args: argparse.Namespace) -> None:
    from rich.console import Console
    from rich.table import Table

    from neuralprog.evaluate import evaluate, plot

    sizes = _sizes(args.lengths)
    if args.n < 1:
        raise UserError("--n must be at least 1")
    model, task, _ = _load(args.checkpoint, args.device, answers_only=True)
    task = _only(task, args.task)
    results = []
    for size in sizes:  # one size at a time so the table fills in as results arrive
        results += evaluate(model, task, [size], args.n, seed=args.seed, batch=args.batch)
        r = results[-1]
        _info(f"size {r.size}: {r.correct}/{r.n} exact in {r.seconds:.1f}s")
    table = Table(title=f"{task.name}: exact-match accuracy on {args.n} random problems per size")
    for column in ("size", "accuracy", "halted", "steps/problem", "seconds"):
        table.add_column(column, justify="right")
    for r in results:
        table.add_row(
            str(r.size), f"{100 * r.accuracy:.1f}%", str(r.halted), f"{r.mean_steps:.0f}", f"{r.seconds:.1f}"
        )
    Console().print(table)
    if args.json:
        _write_atomic(Path(args.json), json.dumps([r.to_json() for r in results], indent=2) + "\n")
    if args.plot:
        plot(results, args.plot, f"{task.name} ({Path(args.checkpoint).name})")


def cmd_solve(args: argparse.Namespace) -> None:
    from neuralprog.evaluate import solve

    model, task, _ = _load(args.checkpoint, args.device, answers_only=True)
    src, out = Path(args.problems), Path(args.out)
    if not src.is_file():
        raise UserError(f"problems file not found: {src}")
    _refuse_overwrite(out, args.force)
    rows: list[dict[str, Any]] = []
    good: list[tuple[int, dict]] = []
    for number, line in enumerate(src.read_text().splitlines(), start=1):
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
        result = solve(model, task, [p for _, p in chunk])
        for (i, problem), output, steps, halted in zip(
            chunk, result.outputs, result.steps, result.halted, strict=True
        ):
            rows[i].update(
                output=output, correct=output == task.expected(problem), steps=int(steps), halted=bool(halted)
            )
    _write_atomic(out, "".join(json.dumps(r) + "\n" for r in rows))
    solved = sum(1 for r in rows if r.get("correct"))
    errors = sum(1 for r in rows if "error" in r)
    _info(f"{len(rows)} problems: {solved} correct, {errors} could not run")
    print(out)


def cmd_trace(args: argparse.Namespace) -> None:
    from neuralprog.execute import run
    from neuralprog.multitask import MultiTask
    from neuralprog.traces import record

    model, task, _ = _load(args.checkpoint, args.device)
    try:
        problem = task.parse(json.loads(args.problem))
    except json.JSONDecodeError as e:
        raise UserError(f"--problem is not valid JSON ({e.msg}); example: {task.problem_example}") from None
    from neuralprog.models.rlntm import RLNTM

    if isinstance(model, RLNTM):  # the paper's Figure 7 view
        from neuralprog.train.reinforce import trace

        if args.oracle:
            raise UserError("an RL-NTM has no oracle trace; --oracle applies to NPI models")
        print(trace(model, task, problem))
        return
    oracle = record(task, problem).steps
    show_pad = args.pad
    own_task = task.part(problem) if isinstance(task, MultiTask) else task  # reads its ACT arguments

    def describe(next_program: str | None, next_args: tuple[int, ...]) -> str:
        if next_program is None:
            return "return"
        if task.programs[next_program].primitive:
            return f"{next_program} {own_task.describe_action(next_args)}"
        return next_program

    if args.oracle:  # replay the oracle's actions on a fresh machine, drawing it as we go
        import numpy as np

        replay = task.machine([problem])
        print(replay.render(0))
        for step in oracle:
            print(f"{'  ' * step.depth}{step.program:<8} -> {describe(step.next, step.next_args)}")
            if step.next and task.programs[step.next].primitive:
                replay.act(np.zeros(1, dtype=np.int64), np.asarray([step.next_args]))
                if show_pad == "act":
                    print(_indent(replay.render(0), step.depth + 1))
        print(f"oracle output {replay.outputs()[0]}  expected {task.expected(problem)}")
        return

    count = 0
    departed: list[int] = []
    final: list[Any] = []

    def on_step(events, machine) -> None:
        nonlocal count
        final[:] = [machine]
        e = events[0]
        expected = oracle[count] if count < len(oracle) else None
        # a returning step has next None and no arguments on both sides, so one comparison covers it
        same = expected is not None and (
            expected.depth,
            expected.program,
            expected.next,
            tuple(expected.next_args),
        ) == (e.depth, e.program, e.next, tuple(e.next_args))
        marker = ""
        if not same and not departed:
            departed.append(count)
            want = "end" if expected is None else describe(expected.next, expected.next_args)
            marker = f"   <-- departs from the oracle (oracle: {want})"
        line = (
            f"{'  ' * e.depth}{e.program:<8} end {e.end_probability:.2f}  -> {describe(e.next, e.next_args)}"
        )
        print(line + marker)
        if show_pad == "all" or (
            show_pad == "act" and e.next is not None and task.programs[e.next].primitive
        ):
            print(_indent(machine.render(0), e.depth + 1))
        count += 1

    print(task.machine([problem]).render(0))
    result = run(model, task, [problem], on_step=on_step)
    if show_pad != "act" and final:
        print(final[0].render(0))
    output, expected_output = result.outputs[0], task.expected(problem)
    status = "halted" if result.halted[0] else f"stopped: {result.failure[0]}"
    verdict = "correct" if output == expected_output else "WRONG"
    print(f"output {output}  expected {expected_output}  {verdict}; {int(result.steps[0])} steps, {status}")
    if departed:
        print(f"the model departs from the oracle at step {departed[0]}")
    else:
        print("the model follows the oracle step for step")


def cmd_verify(args: argparse.Namespace) -> int:
    from neuralprog.verify import verify

    model, task, _ = _load(args.checkpoint, args.device)
    _npi_only(model, args.checkpoint, "verify")
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
        config = dataclasses.replace(config, updates=args.updates)
    print(extend(args.checkpoint, names, args.out, config, device=_device(args.device), log=_info))


def cmd_demo(args: argparse.Namespace) -> None:
    from neuralprog import checkpoint
    from neuralprog.presets import Preset, get_preset
    from neuralprog.train.supervised import CHECKPOINT_NAME, train

    out = Path(args.out)
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
    cmd_trace(
        argparse.Namespace(
            checkpoint=str(ckpt),
            problem='{"a": "96", "b": "25"}',
            oracle=False,
            pad="none",
            device=args.device,
        )
    )
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
            device=args.device,
        )
    )


def cmd_envs(args: argparse.Namespace) -> None:
    import gymnasium as gym

    from neuralprog.envs.tapes import TAPE_TASKS
    from neuralprog.tasks import TASKS, get_task

    get_task("addition")  # imports and registers the built-in envs
    names_of: dict[str, list[str]] = {}
    for env_id, name in [(t.env_id, t.name) for t in TASKS.values()] + [
        (t.env_id, t.name) for t in TAPE_TASKS.values()
    ]:
        names_of.setdefault(env_id, []).append(name)
    for env_id in sorted(k for k in gym.registry if k.startswith("neuralprog/")):
        names = names_of.get(env_id, [])
        print(f"{env_id:<36} " + (f"tasks: {', '.join(names)}" if names else "Gym's algorithmic rules"))


def cmd_gradcheck(args: argparse.Namespace) -> int:
    import numpy as np

    from neuralprog.envs.tapes import TAPE_TASKS, get_tape_task
    from neuralprog.train.gradcheck import CONTROLLERS, TOLERANCE, check, wrong_action_log_probs

    tasks = list(TAPE_TASKS) if args.task == "all" else [get_tape_task(args.task).name]
    controllers = list(CONTROLLERS) if args.controller == "all" else [args.controller]
    if args.size not in (None, 1, 2) or not 0 <= args.extra_steps <= 2:
        raise UserError("--size must be 1 or 2 and --extra-steps 0..2 (the enumeration grows exponentially)")
    log_probs = wrong_action_log_probs if args.estimator == "wrong-action" else None
    print(f"estimator: {args.estimator}; pass: relative error < {TOLERANCE:g} on every direction")
    failed = 0
    for name in tasks:
        task = get_tape_task(name)
        # Two symbols tell copy, reverse and duplicated-input apart; the larger action spaces take one.
        size = args.size or (1 if task.memory or task.name == "repeat-copy" else 2)
        problem = task.sample(np.random.default_rng(args.seed), size)
        for controller in controllers:
            r = check(task, CONTROLLERS[controller], [problem], args.extra_steps, args.seed, log_probs)
            failed += not r.passed
            verdict = "PASS" if r.passed else "FAIL"
            print(
                f"{name:<17} {controller:<12} {r.sequences:>5} sequences  sum p {r.total_probability:.12f}  "
                f"J = {r.objective:9.5f}  worst relative error {r.worst_error:.1e}  {verdict}"
            )
            if args.verbose:
                for direction, analytic, numeric in r.directions:
                    print(
                        f"    {direction:<24} estimator {analytic: .10e}  finite difference {numeric: .10e}"
                    )
    print("all checks passed" if not failed else f"{failed} check(s) FAILED")
    return 1 if failed else 0


def cmd_data(args: argparse.Namespace) -> None:
    from neuralprog.tasks import get_task
    from neuralprog.traces import generate, write_traces

    task = get_task(args.task)
    try:
        lo, _, hi = args.lengths.partition(":")
        sizes = list(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        raise UserError(f"bad --lengths {args.lengths!r}; use LO:HI such as 1:20") from None
    if not sizes or sizes[0] < 1 or args.per_length < 1:
        raise UserError("lengths must be at least 1 and --per-length at least 1")
    out = Path(args.out)
    _refuse_overwrite(out, args.force)
    traces = generate(task, sizes, args.per_length, seed=args.seed)
    write_traces(out, traces)
    _info(f"{len(traces)} traces, {sum(len(t.steps) for t in traces)} steps")
    print(out)


# ---------------------------------------------------------------------------------------------------


def _info(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _indent(text: str, depth: int) -> str:
    return "\n".join("  " * depth + line for line in text.splitlines())


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
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=100, help="problems run in lockstep at once")
    p.add_argument("--json", help="also write the results to this JSON file")
    p.add_argument("--plot", help="also plot accuracy against size to this PNG file")
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
    p.set_defaults(func=cmd_solve)

    p = verb(
        "trace",
        "show a model's execution step by step",
        'neuralprog trace CKPT --problem \'{"a": "96", "b": "25"}\'',
    )
    p.add_argument("checkpoint")
    p.add_argument("--problem", required=True, help="one problem as JSON")
    p.add_argument(
        "--oracle", action="store_true", help="show the oracle's (reference program's) trace instead"
    )
    p.add_argument(
        "--pad", choices=["act", "all", "none"], default="act", help="when to draw the scratch pad"
    )
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

    p = verb("envs", "list the registered environments", "neuralprog envs")
    p.set_defaults(func=cmd_envs)

    p = verb(
        "data",
        "write oracle traces to a JSONL file",
        "neuralprog data addition --lengths 1:20 --per-length 32 --out add.jsonl",
    )
    p.add_argument("task")
    p.add_argument("--lengths", default="1:20", help="LO:HI problem sizes")
    p.add_argument("--per-length", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.set_defaults(func=cmd_data)
    return parser


def main(argv: list[str] | None = None) -> int:
    from neuralprog.checkpoint import CheckpointError
    from neuralprog.traces import TraceFormatError
    from neuralprog.train.supervised import TrainingError

    args = build_parser().parse_args(argv)
    try:
        status = args.func(args)
    except (UserError, CheckpointError, TraceFormatError, TrainingError, ValueError) as e:
        print(f"neuralprog {args.command}: error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"neuralprog {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    return status or 0
