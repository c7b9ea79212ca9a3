"""Throughput of NPI training and interpretation, each as a ratio measured in one run.

1. Training, trace steps per second: frame-batched training (the library's trainer: 256 call frames per
   update, packed) against the paper's protocol (batch size 1, one model step at a time), on the same
   model and the same traces.
2. Interpretation, model steps per second on 100 addition problems of 1,000 digits: lockstep (one batched
   forward per step for all problems) against one problem at a time (measured on the first few
   problems; every problem takes the same number of steps within a few percent).
3. The lockstep interpreter's achieved FLOP rate as a fraction of a dense 2048x2048 matmul's rate.

    python benchmarks/throughput.py --checkpoint runs/addition/checkpoint.pt
    python benchmarks/throughput.py --quick       # tiny sizes; trains a tiny checkpoint first

Writes the figures to benchmarks/results/throughput.json (see --out, --json).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import common
import numpy as np
import torch
from common import NPI, FrameData, batch_loss, build_model, frames, generate, run, step_losses

QUICK = {
    "preset": "addition-tiny",
    "set": ["data.sizes=1:3", "data.per_size=4", "train.updates=2"],
    "checkpoint": None,
    "seconds": 0.3,
    "digits": 20,
    "problems": 8,
    "single": 2,
    "matmul_size": 256,
    "matmul_seconds": 0.2,
}


def batched_training_rate(model: NPI, data: FrameData, seconds: float) -> float:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    rng = np.random.default_rng(0)
    steps, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        batch = data.batch(rng.integers(0, len(data), size=256))
        loss, _ = batch_loss(model, batch)
        optimizer.zero_grad()
        loss.mean().backward()
        optimizer.step()
        steps += len(batch.steps)
    return steps / (time.perf_counter() - started)


def step_by_step_training_rate(model: NPI, task, traces, seconds: float) -> float:
    """The paper's protocol: one trace per update, the model run one step at a time along the trace."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    steps, started = 0, time.perf_counter()
    for trace in traces:
        losses = []
        for frame in frames(task, trace):
            state = model.zero_state(1)
            args = torch.tensor([frame.args])
            program = torch.tensor([frame.program])
            for t in range(len(frame.end)):
                out, state = model.step(torch.from_numpy(frame.obs[t : t + 1]), args, program, state)
                loss, _ = step_losses(
                    out,
                    torch.from_numpy(frame.next_program[t : t + 1]),
                    torch.from_numpy(frame.next_args[t : t + 1]),
                    torch.from_numpy(frame.end[t : t + 1]),
                )
                losses.append(loss)
        optimizer.zero_grad()
        torch.stack(losses).mean().backward()
        optimizer.step()
        steps += len(trace.steps)
        if time.perf_counter() - started > seconds:
            break
    return steps / (time.perf_counter() - started)


def flops_per_step(model: NPI, env: int = 0) -> int:
    """Multiply-adds x 2 of one model step for one problem of environment `env` (each environment has
    an encoder of its own; the matmuls only, elementwise work not counted)."""
    c = model.config
    macs = model.input_sizes[env] * c.state_size + c.state_size**2
    macs += (c.state_size + c.program_size) * c.mlp_size + c.mlp_size**2
    macs += (
        sum((c.mlp_size if layer == 0 else c.hidden_size) + c.hidden_size for layer in range(c.layers))
        * 4
        * c.hidden_size
    )
    head_input = c.hidden_size + (c.program_size if c.program_to_heads else 0)
    macs += head_input * (1 + c.key_size + 3 * c.arg_size) + c.key_size * c.n_programs
    return 2 * macs


def matmul_rate(n: int = 2048, seconds: float = 2.0) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        a @ b
        count += 1
    return 2 * n**3 * count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--checkpoint",
        default="runs/addition/checkpoint.pt",
        help="a trained addition model (none: train --preset into a temporary directory first)",
    )
    parser.add_argument("--preset", default="addition", help="the model and traces of the training rates")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE")
    parser.add_argument("--seconds", type=float, default=20.0, help="time per training measurement")
    parser.add_argument("--digits", type=int, default=1000)
    parser.add_argument("--problems", type=int, default=100)
    parser.add_argument("--single", type=int, default=5, help="problems run one at a time")
    parser.add_argument("--matmul-size", type=int, default=2048, help="the dense matmul of the peak rate")
    parser.add_argument("--matmul-seconds", type=float, default=2.0)
    args = common.parse(parser, QUICK)
    if args.checkpoint and not Path(args.checkpoint).exists():
        parser.error(
            f"no checkpoint {args.checkpoint}: train one (neuralprog train addition) or give another"
        )

    chosen = common.preset(args.preset, args.set)
    assert isinstance(chosen, common.Preset), "an NPI preset"
    task = common.get_task(chosen.task)
    results: dict[str, object] = {}

    traces = generate(task, chosen.data.sizes, chosen.data.per_size, seed=0)
    data = FrameData([f for t in traces for f in frames(task, t)], torch.device("cpu"))
    batched = batched_training_rate(build_model(task, chosen, 0), data, args.seconds)
    order = np.random.default_rng(0).permutation(len(traces))
    single = step_by_step_training_rate(
        build_model(task, chosen, 0), task, [traces[i] for i in order], args.seconds
    )
    results["train_steps_per_s_batched"] = batched
    results["train_steps_per_s_step_by_step"] = single
    results["train_speedup"] = batched / single
    print(
        f"training: batched {batched:,.0f} steps/s, step by step {single:,.0f} steps/s, "
        f"ratio {batched / single:.1f}x"
    )

    with common.scratch(None) as tmp:
        path = args.checkpoint or common.obtain(chosen, tmp / "run", common.info)
        model, task, payload = common.load(path)
    if payload["task"] != "addition":
        raise SystemExit(f"{path} is a {payload['task']} model; the interpreter figures need an addition one")
    rng = np.random.default_rng(0)
    problems = [task.sample(rng, args.digits) for _ in range(args.problems)]
    started = time.perf_counter()
    result = run(model, task, problems)
    lockstep_seconds = time.perf_counter() - started
    correct = sum(o == task.expected(p) for o, p in zip(result.outputs, problems, strict=True))
    lockstep_rate = result.steps.sum() / lockstep_seconds
    started = time.perf_counter()
    single_steps = sum(int(run(model, task, [p]).steps[0]) for p in problems[: args.single])
    single_rate = single_steps / (time.perf_counter() - started)
    flops = flops_per_step(model) * result.steps.sum() / lockstep_seconds
    peak = matmul_rate(args.matmul_size, args.matmul_seconds)
    results.update(
        interpret_problems=args.problems,
        interpret_digits=args.digits,
        interpret_correct=int(correct),
        interpret_lockstep_seconds=lockstep_seconds,
        interpret_lockstep_batched_steps=int(result.steps.max()),
        interpret_steps_per_s_lockstep=lockstep_rate,
        interpret_steps_per_s_one_at_a_time=single_rate,
        interpret_speedup=lockstep_rate / single_rate,
        model_mflop_per_step=flops_per_step(model) / 1e6,
        interpret_gflops=flops / 1e9,
        matmul_gflops=peak / 1e9,
        interpret_fraction_of_matmul=flops / peak,
    )
    print(
        f"interpreter, {args.problems} problems of {args.digits} digits ({correct} exact): lockstep "
        f"{lockstep_rate:,.0f} steps/s in {lockstep_seconds:.1f}s, one at a time {single_rate:,.0f} steps/s, "
        f"ratio {lockstep_rate / single_rate:.1f}x"
    )
    print(
        f"interpreter FLOP rate {flops / 1e9:.0f} GFLOP/s "
        f"({flops_per_step(model) / 1e6:.2f} MFLOP per problem step) = "
        f"{100 * flops / peak:.0f}% of a dense {args.matmul_size}^2 matmul's {peak / 1e9:.0f} GFLOP/s"
    )
    common.record(
        args,
        results,
        train_preset=chosen,
        checkpoint_used=str(path),
        checkpoint_update=payload.get("update"),
    )


if __name__ == "__main__":
    main()
