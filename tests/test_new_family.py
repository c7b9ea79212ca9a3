"""A model family added from outside the library: one model, one trainer, one registry record and a
preset, all defined here. It is a feed-forward NPI core (no recurrent state: each step sees only the
observation, the frame's program and its arguments) that trains on addition-tiny's traces, runs in the
call-stack interpreter, goes through `eval`, `solve` and `trace`, and round-trips through a checkpoint,
with no library file changed for it."""

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from neuralprog import checkpoint
from neuralprog.cli import main
from neuralprog.execute import check, run, trace_view
from neuralprog.families import FAMILIES, Family, load, register_family
from neuralprog.frames import FrameData, batch_loss
from neuralprog.models.npi import NPI, StepOutput
from neuralprog.presets import PRESETS, DataConfig, get_preset, register_preset
from neuralprog.registry import program_task
from neuralprog.traces import frames, generate
from neuralprog.train.common import CHECKPOINT_NAME, MetricsLog, open_run, preset_json

pytestmark = pytest.mark.slow  # it trains a model (about 20 s)


@dataclass(frozen=True)
class FeedForwardConfig:
    obs_sizes: tuple[tuple[int, ...], ...]
    """Per environment, the values of each observation field."""
    n_programs: int
    """Rows of the program memory."""
    arg_size: int = 10
    """Values of each argument."""
    n_args: int = 3
    """Arguments per call."""
    hidden_size: int = 64
    """Width of the one hidden layer."""


class FeedForwardNPI(nn.Module):
    """An NPI whose core is an MLP: no state to keep on the call stack."""

    kind, title, config_type = "feedforward-npi", "a feed-forward NPI", FeedForwardConfig
    mismatch = staticmethod(NPI.mismatch)  # the same program set and observations as an NPI's

    @staticmethod
    def upgrade_config(config: dict) -> dict:
        return config

    def __init__(self, config: FeedForwardConfig):
        super().__init__()
        self.config = c = config
        sizes = c.obs_sizes[0]
        self.register_buffer("offsets", torch.tensor([0, *sizes[:-1]]).cumsum(0), persistent=False)
        self.arg_offsets = sum(sizes) + c.arg_size * torch.arange(c.n_args)
        self.inputs = sum(sizes) + c.n_args * c.arg_size
        self.program = nn.Embedding(c.n_programs, c.hidden_size)
        self.body = nn.Sequential(nn.Linear(self.inputs, c.hidden_size), nn.ReLU())
        self.out = nn.Linear(c.hidden_size, 1 + c.n_programs + c.n_args * c.arg_size)

    def zero_state(self, batch: int) -> tuple:
        return ()

    def heads(self, obs: torch.Tensor, args: torch.Tensor, program: torch.Tensor) -> StepOutput:
        index = torch.cat([obs + self.offsets, args + self.arg_offsets.to(args.device)], dim=1)
        one_hot = torch.zeros(len(obs), self.inputs, device=obs.device).scatter_(1, index, 1.0)
        out = self.out(torch.relu(self.body(one_hot) + self.program(program)))
        c = self.config
        return StepOutput(
            out[:, 0],
            out[:, 1 : 1 + c.n_programs],
            out[:, 1 + c.n_programs :].unflatten(1, (c.n_args, c.arg_size)),
        )

    def stepper(self):
        return lambda obs, args, program, state, env=None: (self.heads(obs, args, program), state)

    def forward_frames(self, obs, args, program, env=None) -> StepOutput:
        return self.heads(obs.data, args, program)  # every step on its own: no state to carry


@dataclass(frozen=True)
class FeedForwardTrain:
    updates: int = 150
    """Optimizer updates."""
    batch_frames: int = 128
    """Frames per update."""
    lr: float = 3e-3
    """Adam learning rate."""
    seed: int = 0
    """Seed of traces, weights and batches."""


@dataclass(frozen=True)
class FeedForwardPreset:
    name: str
    task: str
    description: str
    data: DataConfig = field(default_factory=DataConfig)
    train: FeedForwardTrain = field(default_factory=FeedForwardTrain)


def train_feedforward(
    preset, out_dir, resume=False, device="cpu", traces=None, log=print, progress=True, tensorboard=True
):
    out_dir, task, cfg = Path(out_dir), program_task(preset.task), preset.train
    open_run(out_dir, preset_json(preset), task.name, FeedForwardNPI.kind, resume=False)
    traces = traces or generate(task, preset.data.sizes, preset.data.per_size, seed=cfg.seed)
    data = FrameData([f for t in traces for f in frames(task, t)], torch.device(device))
    torch.manual_seed(cfg.seed)
    config = FeedForwardConfig(task.env_obs_sizes, len(task.programs), task.programs.arg_size)
    model = FeedForwardNPI(config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    rng, losses = np.random.default_rng(cfg.seed), []
    metrics = MetricsLog(out_dir, 0, tensorboard, log)  # metrics.jsonl and TensorBoard, as the library's
    for update in range(1, cfg.updates + 1):
        loss = batch_loss(model, data.batch(rng.integers(0, len(data), cfg.batch_frames)))[0].mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        metrics.write({"update": update, "train/loss": losses[-1]})
    metrics.close()
    return checkpoint.save(
        out_dir / CHECKPOINT_NAME,
        FeedForwardNPI.kind,
        model,
        task.name,
        env=task.env_id,
        programs=task.programs.to_json(),
        preset=preset_json(preset),
        losses=losses,
        finished=True,
    )


FEEDFORWARD = Family(
    model_type=FeedForwardNPI,
    preset_type=FeedForwardPreset,
    task=program_task,
    train=train_feedforward,
    run=run,
    show=trace_view.show,
    page=trace_view.page,
    halting="a run halts when its root program returns within its step and call-depth budgets",
    calls_programs=True,
)


@pytest.fixture(scope="module")
def family():
    tiny = get_preset("addition-tiny")
    preset = FeedForwardPreset("feedforward-addition", "addition", "a feed-forward core", data=tiny.data)
    register_family(FEEDFORWARD)
    register_preset(preset)
    yield preset
    del FAMILIES[FEEDFORWARD.kind], PRESETS[preset.name]


@pytest.fixture(scope="module")
def trained(family, tmp_path_factory):
    out = tmp_path_factory.mktemp("ff") / "run"
    assert main(["train", family.name, "--out", str(out), "--device", "cpu"]) == 0
    return out / CHECKPOINT_NAME


def test_a_family_registered_outside_the_library_trains_its_loss_falls(trained):
    losses = checkpoint.load(trained)["losses"]
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])


def test_it_round_trips_through_a_checkpoint_and_runs_in_the_interpreter(trained):
    loaded = load(trained)
    assert isinstance(loaded.model, FeedForwardNPI) and loaded.family is FEEDFORWARD
    saved = checkpoint.load(trained)["model"]
    assert all(torch.equal(saved[k], v) for k, v in loaded.model.state_dict().items())
    task = loaded.task
    problems = [task.sample(np.random.default_rng(i), 3) for i in range(8)]
    result = run(loaded.model, task, problems)  # the interpreter keeps its (empty) state on the stack
    assert len(result.outputs) == 8 and (result.steps > 0).all()
    assert check(task, problems, result).sum() <= result.halted.sum()


def test_eval_solve_and_trace_take_it(trained, tmp_path, capsys):
    results = tmp_path / "eval.json"
    assert main(["eval", str(trained), "--lengths", "2,3", "--n", "8", "--json", str(results)]) == 0
    assert [r["size"] for r in json.loads(results.read_text())] == [2, 3]
    problems = tmp_path / "p.jsonl"
    problems.write_text('{"a": "12", "b": "34"}\n{"a": "x"}\n')
    out = tmp_path / "out.jsonl"
    assert main(["solve", str(trained), "--problems", str(problems), "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {"output", "halted", "correct", "steps"} <= set(rows[0]) and "error" in rows[1]
    assert main(["trace", str(trained), "--problem", '{"a": "12", "b": "34"}', "--pad", "none"]) == 0
    assert "expected 46" in capsys.readouterr().out
    page = tmp_path / "run.html"
    assert main(["trace", str(trained), "--problem", '{"a": "12", "b": "34"}', "--html", str(page)]) == 0
    assert page.stat().st_size > 0 and str(page) in capsys.readouterr().out
