import numpy as np
import pytest
import torch
from helpers import assert_packed_equals_stepwise

from neuralprog.frames import FrameData, batch_loss, frame_accuracy, sample_distinct
from neuralprog.models.npi import NPI, NPIConfig
from neuralprog.registry import get_task
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

    # until_wrong: the chunks up to the first one with a wrong step, telling the same about their frames.
    early = frame_accuracy(model, data, chunk=5, until_wrong=True)
    ran = data.distinct[np.isin(data.distinct, data.copy_of[early.checked])]
    assert not early.complete and len(ran) % 5 == 0
    assert np.array_equal(ran, data.distinct[: len(ran)])
    assert np.array_equal(early.frame_ok, early.checked & evaluation.frame_ok)
    assert evaluation.frame_ok[np.isin(data.copy_of, ran[:-5])].all()
    assert not evaluation.frame_ok[np.isin(data.copy_of, ran[-5:])].all()


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


def test_field_dropout_hides_whole_fields_in_training_only():
    """`field_dropout` zeroes a field's whole one-hot block, each field and step on its own, in training;
    the arguments are never hidden, and an evaluating model sees everything (the same network as
    without the option: checkpoints hold no extra weights)."""
    sort = get_task("sort")
    config = NPIConfig(obs_sizes=sort.env_obs_sizes, n_programs=len(sort.programs), hidden_size=16)
    torch.manual_seed(0)
    plain = NPI(config)
    dropping = NPI(NPIConfig(**{**config.__dict__, "field_dropout": 0.5}))
    dropping.load_state_dict(plain.state_dict())
    n, fields = 4000, len(sort.obs_sizes)
    obs = torch.stack([torch.randint(0, size, (n,)) for size in sort.obs_sizes], dim=1)
    args = torch.randint(0, 2, (n, 3))
    seen = {}

    def record_input(module, inputs, output):
        seen["x"] = inputs[0]

    dropping.encoders[0].register_forward_hook(record_input)
    dropping.train()
    dropping.encode(0, obs, args)
    blocks = seen["x"].split([*sort.obs_sizes, *[config.arg_size] * 3], dim=1)
    shown = torch.stack([block.sum(1) for block in blocks[:fields]], dim=1)  # (n, F): 1 shown, 0 hidden
    assert set(shown.unique().tolist()) == {0.0, 1.0}
    assert abs(1 - shown.mean().item() - 0.5) < 0.03  # about half of all fields hidden
    all_shown = (shown.sum(1) == fields).float().mean().item()
    assert 0.7 < all_shown * 2**fields < 1.3  # each field hidden on its own, not all together
    assert all(bool((block.sum(1) == 1).all()) for block in blocks[fields:])  # arguments always shown
    dropping.eval()
    program = torch.zeros(n, dtype=torch.long)
    assert torch.equal(dropping.core_input(obs, args, program), plain.eval().core_input(obs, args, program))
