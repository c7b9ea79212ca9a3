import numpy as np
import torch

from neuralprog.models.npi import NPI, NPIConfig
from neuralprog.traces import frames, generate
from neuralprog.train.supervised import FrameData


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
    index = np.arange(len(data))
    batch = data.batch(index)
    with torch.no_grad():
        packed = model.forward_frames(batch.obs, batch.args, batch.program)
        for frame in range(len(data)):
            state = model.zero_state(1)
            start, length = data.start[frame], data.length[frame]
            for t in range(length):
                step = start + t
                row = int(np.flatnonzero(batch.steps == step)[0])
                out, state = model.step(
                    data.obs[step : step + 1],
                    torch.from_numpy(data.args[frame : frame + 1]),
                    torch.tensor([data.program[frame]]),
                    state,
                )
                torch.testing.assert_close(
                    out.end_logit, packed.end_logit[row : row + 1], atol=1e-5, rtol=1e-5
                )
                torch.testing.assert_close(
                    out.key_scores, packed.key_scores[row : row + 1], atol=1e-5, rtol=1e-5
                )
                torch.testing.assert_close(
                    out.arg_logits, packed.arg_logits[row : row + 1], atol=1e-5, rtol=1e-5
                )
