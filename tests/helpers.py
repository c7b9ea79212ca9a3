"""Checks shared by several test modules."""

import numpy as np
import torch

from neuralprog.frames import FrameData
from neuralprog.models.npi import NPI


def assert_packed_equals_stepwise(model: NPI, data: FrameData) -> None:
    """Training's packed forward over whole frames equals the interpreter's one-step path, every step."""
    batch = data.batch(np.arange(len(data)))
    with torch.no_grad():
        packed = model.forward_frames(batch.obs, batch.args, batch.program, batch.env)
        for frame in range(len(data)):
            state = model.zero_state(1)
            for t in range(data.length[frame]):
                step = data.start[frame] + t
                row = int(np.flatnonzero(batch.steps == step)[0])
                out, state = model.step(
                    data.obs[step : step + 1],
                    torch.from_numpy(data.args[frame : frame + 1]),
                    torch.tensor([data.program[frame]]),
                    state,
                    env=torch.tensor([data.env[frame]]),
                )
                for name in ("end_logit", "key_scores", "arg_logits"):
                    expected = getattr(packed, name)[row : row + 1]
                    torch.testing.assert_close(getattr(out, name), expected, atol=1e-5, rtol=1e-5)
