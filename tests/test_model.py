import numpy as np
import pytest
import torch
from helpers import assert_packed_equals_stepwise

from neuralprog.frames import FrameData, batch_loss, frame_accuracy, sample_distinct
from neuralprog.models.npi import NPI, NPIConfig
from neuralprog.traces import frames, generate


def test_batched_frames_equal_step_by_step(addition):
    """Training's packed forward over whole frames equals the interpreter's one-step path."""
    torch.manual_seed(0)
    model = NPI(
        NPIConfig(
            obs_sizes=addition.env_obs_sizes, n_programs=len(addition.programs), hidden_size=32, mlp_size=32
        )
    )
    model.eval()
    traces = generate(addition, [1, 2, 3], 2, seed=0)
    data = FrameData([f for t in traces for f in frames(addition, t)], torch.device("cpu"))
    assert_packed_equals_stepwise(model, data)


@pytest.mark.slow
def test_frame_accuracy_runs_each_distinct_frame_once_and_counts_every_copy(addition):
    """The teacher-forced evaluation deduplicates frames; its results equal those of every frame run."""
    torch.manual_seed(1)
    model = NPI(
        NPIConfig(
            obs_sizes=addition.env_obs_sizes, n_programs=len(addition.programs), hidden_size=16, mlp_size=16
        )
    )
    traces = generate(addition, [1, 2], 30, seed=0)
    data = FrameData([f for t in traces for f in frames(addition, t)], torch.device("cpu"))
    assert len(data.distinct) < 0.8 * len(data)  # short sums repeat frames often
    every = np.arange(len(data))
    batch = data.batch(every)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):  # partly trained, so that some frames are right and some wrong
        optimizer.zero_grad()
        batch_loss(model, batch)[0].mean().backward()
        optimizer.step()
    evaluation = frame_accuracy(model, data, chunk=7)
    with torch.no_grad():
        _, ok = batch_loss(model, batch)
    ok_np = ok.numpy()
    assert np.array_equal(evaluation.frame_ok, ~np.isin(every, batch.frames[~ok_np]))
    assert 0 < evaluation.frame_ok.mean() < 1
    assert evaluation.step_accuracy == pytest.approx(ok_np.mean())
    for program, accuracy in evaluation.per_program.items():
        assert accuracy == pytest.approx(ok_np[data.program[batch.frames] == program].mean())
    assert evaluation.complete and evaluation.checked.all()

    # A sampled evaluation (train.eval_share) runs some distinct frames of every program and tells the
    # same about each frame it ran, or a copy of, as the full one.
    sample = sample_distinct(data, 0.3, np.random.default_rng(0))
    assert set(data.program[sample]) == set(data.program)
    assert len(sample) == len(set(sample)) < 0.4 * len(data.distinct)
    partial = frame_accuracy(model, data, chunk=5, distinct=sample)
    assert not partial.complete
    assert np.array_equal(partial.checked, np.isin(data.copy_of, sample))
    assert np.array_equal(partial.frame_ok, partial.checked & evaluation.frame_ok)


def test_layer_norm_is_an_option_that_leaves_old_checkpoints_loadable(addition):
    """`layer_norm` adds a LayerNorm before each ReLU of the core MLP; without it the network (and the
    names in its state dict, which checkpoints hold) is the one trained before the option existed."""
    config = NPIConfig(obs_sizes=addition.env_obs_sizes, n_programs=len(addition.programs), hidden_size=16)
    plain, normed = NPI(config), NPI(NPIConfig(**{**config.__dict__, "layer_norm": True}))
    assert not any(isinstance(m, torch.nn.LayerNorm) for m in plain.modules())
    assert sum(isinstance(m, torch.nn.LayerNorm) for m in normed.core_mlp) == 2
    assert [k for k in plain.state_dict() if k.startswith("core_mlp")] == [
        "core_mlp.0.weight", "core_mlp.0.bias", "core_mlp.2.weight", "core_mlp.2.bias"
    ]  # fmt: skip
    obs, args, program = (
        torch.zeros(3, 4, dtype=torch.long),
        torch.zeros(3, 3, dtype=torch.long),
        torch.zeros(3, dtype=torch.long),
    )
    assert normed.core_input(obs, args, program).shape == plain.core_input(obs, args, program).shape
