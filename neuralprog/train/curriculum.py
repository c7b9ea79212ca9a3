"""The adaptive curriculum of NPI (Reed & de Freitas, Sec. 4): programs that are still wrong get sampled more.

The sampler keeps one error rate per program, re-estimated at each full evaluation, and splits every
batch between programs by a softmax over those error rates (half of the batch is always spread evenly,
so no program is starved and forgotten). Within a program, a share (`train.curriculum_hard_fraction`)
goes to the frames the model currently gets wrong, if there are any: a handful of rare situations
(9 + 9 + carry) would otherwise stay wrong for thousands of updates. The state is plain numbers,
saved in checkpoints, so a resumed run draws the same batches.
"""

from __future__ import annotations

import numpy as np


class FrameSampler:
    """Draws frame indices, uniformly or by the adaptive curriculum."""

    def __init__(self, frame_programs: np.ndarray, adaptive: bool, temperature: float, hard_fraction: float):
        self.frame_programs = frame_programs
        self.adaptive = adaptive
        self.temperature = temperature
        self.hard_fraction = hard_fraction
        self.programs = np.unique(frame_programs)
        self.members = [np.flatnonzero(frame_programs == p) for p in self.programs]
        self.error = np.ones(len(self.programs))
        self.frame_wrong = np.zeros(len(frame_programs), dtype=bool)

    def update(self, wrong: np.ndarray) -> None:
        """Re-estimate from an evaluation of every frame: `wrong[i]` is True when frame i had a wrong step."""
        self.error = np.asarray([wrong[members].mean() for members in self.members])
        self.frame_wrong[:] = wrong

    def observe(self, frames: np.ndarray, wrong: np.ndarray) -> None:
        """Keep the wrong-frame set current between full evaluations with a training batch's results, so
        the sampler stops drawing a frame as soon as the model gets it right."""
        self.frame_wrong[frames] = wrong

    def program_weights(self) -> np.ndarray:
        z = self.error / self.temperature
        w = np.exp(z - z.max())
        return 0.5 * w / w.sum() + 0.5 / len(w)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if not self.adaptive:
            return rng.integers(0, len(self.frame_programs), size=n)
        counts = rng.multinomial(n, self.program_weights())
        picks = []
        for members, k in zip(self.members, counts, strict=True):
            wrong = members[self.frame_wrong[members]]
            hard = int(k * self.hard_fraction) if len(wrong) else 0
            picks += [rng.choice(members, size=k - hard), rng.choice(wrong, size=hard) if hard else wrong]
        return np.concatenate(picks)

    def state(self) -> dict:
        return {"error": self.error.tolist(), "wrong": np.flatnonzero(self.frame_wrong).tolist()}

    def load_state(self, state: dict) -> None:
        self.error = np.asarray(state["error"], dtype=float)
        self.frame_wrong[:] = False
        self.frame_wrong[np.asarray(state["wrong"], dtype=np.int64)] = True
