"""The adaptive curriculum of NPI (Reed & de Freitas, Sec. 4): programs that are still wrong get sampled more.

The sampler keeps one error rate per program, re-estimated from full evaluations, and draws training
frames so that each program's share of a batch is a softmax over those error rates. Its state is plain
numbers, saved in checkpoints so a resumed run draws the same batches.
"""

from __future__ import annotations

import numpy as np


class FrameSampler:
    """Draws frame indices, uniformly or by the adaptive curriculum."""

    def __init__(self, frame_programs: np.ndarray, adaptive: bool, temperature: float):
        self.frame_programs = frame_programs
        self.adaptive = adaptive
        self.temperature = temperature
        self.programs = np.unique(frame_programs)
        self.members = [np.flatnonzero(frame_programs == p) for p in self.programs]
        self.error = np.ones(len(self.programs))

    def update(self, error_by_program: dict[int, float]) -> None:
        self.error = np.asarray([error_by_program.get(int(p), 1.0) for p in self.programs])

    def program_weights(self) -> np.ndarray:
        # Half of each batch is spread evenly over programs, so no program is ever starved and forgotten;
        # the other half follows the softmax over errors.
        z = self.error / self.temperature
        w = np.exp(z - z.max())
        return 0.5 * w / w.sum() + 0.5 / len(w)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if not self.adaptive:
            return rng.integers(0, len(self.frame_programs), size=n)
        counts = rng.multinomial(n, self.program_weights())
        picks = [rng.choice(m, size=k) for m, k in zip(self.members, counts, strict=True) if k]
        return np.concatenate(picks)

    def state(self) -> list[float]:
        return self.error.tolist()

    def load_state(self, error: list[float]) -> None:
        self.error = np.asarray(error, dtype=float)
