"""Curricula, kept outside the environments. `FrameSampler`: NPI's adaptive curriculum over trace frames;
`LengthCurriculum`: the RL-NTM's curriculum over problem sizes (at its end).

The adaptive curriculum of NPI (Reed & de Freitas, Sec. 4): programs that are still wrong get sampled more.

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

    def __init__(
        self,
        frame_programs: np.ndarray,
        adaptive: bool,
        temperature: float,
        hard_fraction: float,
        frame_lengths: np.ndarray | None = None,
    ):
        self.frame_programs = frame_programs
        self.adaptive = adaptive
        self.temperature = temperature
        self.hard_fraction = hard_fraction
        self.programs = np.unique(frame_programs)
        self.members = [np.flatnonzero(frame_programs == p) for p in self.programs]
        # Frames per step of each program's share: 1 (shares count frames), or 1 / its mean frame length.
        self.frames_per_step = np.ones(len(self.programs))
        if frame_lengths is not None:
            self.frames_per_step = 1 / np.asarray([frame_lengths[m].mean() for m in self.members])
        self.error = np.ones(len(self.programs))
        self.frame_wrong = np.zeros(len(frame_programs), dtype=bool)

    def update(self, wrong: np.ndarray, checked: np.ndarray | None = None) -> None:
        """Re-estimate from an evaluation: `wrong[i]` is True when frame i had a wrong step. An evaluation
        of some frames only (`checked`) estimates each program's error from its checked frames and
        leaves what is known of the others."""
        if checked is None:
            checked = np.ones(len(wrong), dtype=bool)
        for i, members in enumerate(self.members):
            seen = members[checked[members]]
            if len(seen):
                self.error[i] = wrong[seen].mean()
        self.frame_wrong[checked] = wrong[checked]

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
        weights = self.program_weights() * self.frames_per_step
        counts = rng.multinomial(n, weights / weights.sum())
        picks = []
        for members, k in zip(self.members, counts, strict=True):
            wrong = members[self.frame_wrong[members]]
            hard = int(k * self.hard_fraction) if len(wrong) else 0
            picks += [rng.choice(members, size=k - hard), rng.choice(wrong, size=hard) if hard else wrong[:0]]
        return np.concatenate(picks)

    def state(self) -> dict:
        return {"error": self.error.tolist(), "wrong": np.flatnonzero(self.frame_wrong).tolist()}

    def load_state(self, state: dict) -> None:
        self.error = np.asarray(state["error"], dtype=float)
        self.frame_wrong[:] = False
        self.frame_wrong[np.asarray(state["wrong"], dtype=np.int64)] = True


class LengthCurriculum:
    """The RL-NTM's curriculum over problem sizes (Zaremba & Sutskever 2015, Sec. 7 and Table 3).

    At level C a batch draws each problem's size d as: 10% uniformly from every size 1..top; 25%
    uniformly from 1..C+e; 65% exactly C+e; e ~ Geometric(1/2), p(e = k) = 1/2^k for k >= 1, every
    size capped at the top. C goes up by one when the average 0-1 loss of a batch (wrong symbols over
    target length) falls below `threshold`, at most once per `refractory` updates. Disabled, every
    problem has the top size. The state is two numbers, saved in checkpoints; it lives here, outside the
    environments, so a resumed run continues at its level.
    """

    def __init__(
        self, top: int, start: int = 1, threshold: float = 0.2, refractory: int = 100, enabled: bool = True
    ):
        if not 1 <= start <= top:
            raise ValueError(f"the curriculum starts at a level in 1..{top}, got {start}")
        self.top, self.threshold, self.refractory, self.enabled = top, threshold, refractory, enabled
        self.level = start if enabled else top
        self.raised_at = 0
        """The update at which the level last went up."""

    @property
    def at_top(self) -> bool:
        return self.level >= self.top

    def sizes(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if not self.enabled:
            return np.full(n, self.top)
        kind = rng.choice(3, size=n, p=[0.10, 0.25, 0.65])
        reach = np.minimum(self.level + rng.geometric(0.5, size=n), self.top)  # C + e
        any_size = rng.integers(1, self.top + 1, size=n)
        below = 1 + (rng.random(n) * reach).astype(np.int64)  # uniform in 1..C+e
        return np.where(kind == 0, any_size, np.where(kind == 1, below, reach))

    def observe(self, update: int, loss01: float) -> bool:
        """Report a batch's average 0-1 loss after update `update`; True when the level went up."""
        if self.at_top or loss01 >= self.threshold or update - self.raised_at < self.refractory:
            return False
        self.level += 1
        self.raised_at = update
        return True

    def state(self) -> dict:
        return {"level": self.level, "raised_at": self.raised_at}

    def load_state(self, state: dict) -> None:
        self.level, self.raised_at = int(state["level"]), int(state["raised_at"])
