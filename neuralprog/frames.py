"""Call-frame batches and their losses, shared by training, verification and extension.

Every call frame starts from a zero core state, so a trace set is a bag of independent sequences:
`FrameData` flattens all frames into arrays, and any batch of frames is a few index operations packed
into one PackedSequence (time-major, longest first) that the model runs at once.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch.nn.utils.rnn import PackedSequence

from neuralprog.models.npi import NPI, step_losses
from neuralprog.traces import Frame, frame_key


@dataclasses.dataclass
class FrameBatch:
    obs: PackedSequence  # packed (T_i, F) observations
    args: torch.Tensor  # (N, 3) the frame's arguments, per packed step
    program: torch.Tensor  # (N,) the frame's program, per packed step
    env: torch.Tensor  # (N,) the frame's environment (encoder), per packed step
    next_program: torch.Tensor  # (N,)
    next_args: torch.Tensor  # (N, 3)
    end: torch.Tensor  # (N,) bool
    steps: np.ndarray  # (N,) index of each packed step in FrameData's flat step arrays
    frames: np.ndarray  # (N,) index of each packed step's frame


class FrameData:
    """All frames of a trace set, flattened into arrays so that any batch is a few index operations."""

    def __init__(self, frame_list: list[Frame], device: torch.device):
        self.device = device
        # Identical frames (same program, arguments, observations and targets) are common: sorting's 1,216
        # traces hold 658k frames but 31k distinct ones. A teacher-forced evaluation runs each once.
        first_of: dict[bytes, int] = {}
        self.copy_of = np.asarray([first_of.setdefault(frame_key(f), i) for i, f in enumerate(frame_list)])
        self.distinct, self.copies = np.unique(self.copy_of, return_counts=True)
        self.length = np.asarray([len(f.end) for f in frame_list])
        self.start = np.concatenate([[0], np.cumsum(self.length)[:-1]])
        self.program = np.asarray([f.program for f in frame_list])
        self.env = np.asarray([f.env for f in frame_list])
        self.args = np.asarray([f.args for f in frame_list], dtype=np.int64)
        width = max(f.obs.shape[1] for f in frame_list)  # environments differ in observation fields
        obs = [
            f.obs if f.obs.shape[1] == width else np.pad(f.obs, ((0, 0), (0, width - f.obs.shape[1])))
            for f in frame_list
        ]
        self.obs = torch.from_numpy(np.concatenate(obs)).to(device)
        self.next_program = torch.from_numpy(np.concatenate([f.next_program for f in frame_list])).to(device)
        self.next_args = torch.from_numpy(np.concatenate([f.next_args for f in frame_list])).to(device)
        self.end = torch.from_numpy(np.concatenate([f.end for f in frame_list])).to(device)

    def __len__(self) -> int:
        return len(self.length)

    @property
    def steps(self) -> int:
        return int(self.length.sum())

    def batch(self, index: np.ndarray) -> FrameBatch:
        """Pack the frames `index` time-major, longest first (the layout nn.LSTM expects)."""
        index = index[np.argsort(-self.length[index], kind="stable")]
        lengths = self.length[index]
        t = np.arange(lengths[0])[:, None]  # (T, 1)
        valid = t < lengths[None, :]  # (T, n)
        step = (self.start[index][None, :] + t)[valid]  # packed order: time-major
        frame = np.broadcast_to(np.arange(len(index)), valid.shape)[valid]
        batch_sizes = torch.from_numpy(valid.sum(1))
        step_t = torch.from_numpy(step).to(self.device)
        return FrameBatch(
            obs=PackedSequence(self.obs[step_t], batch_sizes),
            args=torch.from_numpy(self.args[index][frame]).to(self.device),
            program=torch.from_numpy(self.program[index][frame]).to(self.device),
            env=torch.from_numpy(self.env[index][frame]).to(self.device),
            next_program=self.next_program[step_t],
            next_args=self.next_args[step_t],
            end=self.end[step_t],
            steps=step,
            frames=index[frame],
        )


def batch_loss(model: NPI, batch: FrameBatch):
    out = model.forward_frames(batch.obs, batch.args, batch.program, batch.env)
    return step_losses(out, batch.next_program, batch.next_args, batch.end)


@dataclasses.dataclass
class FrameAccuracy:
    frame_ok: np.ndarray  # (len(data),) every step of the frame right (False where not checked)
    checked: np.ndarray  # (len(data),) the frame (or a copy of it) was run
    step_accuracy: float  # over all steps of the checked frames
    per_program: dict[int, float]  # step accuracy per program id

    @property
    def complete(self) -> bool:
        return bool(self.checked.all())


@torch.no_grad()
def frame_accuracy(
    model: NPI,
    data: FrameData,
    chunk: int = 4096,
    distinct: np.ndarray | None = None,
    until_wrong: bool = False,
) -> FrameAccuracy:
    """Teacher-forced evaluation of every frame's steps (each distinct frame run once; or only the
    distinct frames given): which frames are right, step accuracy overall and per program. With
    `until_wrong`, stop after the first chunk with a wrong step: the result covers the frames run."""
    model.eval()
    distinct = data.distinct if distinct is None else np.sort(distinct)
    distinct_ok = np.ones(len(distinct), dtype=bool)
    step_ok, step_program, step_copies = [], [], []
    for lo in range(0, len(distinct), chunk):
        part = distinct[lo : lo + chunk]
        batch = data.batch(part)
        _, ok = batch_loss(model, batch)
        ok_np = ok.cpu().numpy()
        distinct_ok[lo : lo + chunk] = ~np.isin(part, batch.frames[~ok_np])
        step_ok.append(ok_np)
        step_program.append(data.program[batch.frames])
        step_copies.append(data.copies[np.searchsorted(data.distinct, batch.frames)])
        if until_wrong and not ok_np.all():
            distinct, distinct_ok = distinct[: lo + chunk], distinct_ok[: lo + chunk]
            break
    model.train()
    ok_all, program_all, copies = map(np.concatenate, (step_ok, step_program, step_copies))

    def accuracy(steps: np.ndarray) -> float:
        return float((ok_all[steps] * copies[steps]).sum() / copies[steps].sum())

    per_program = {int(p): accuracy(program_all == p) for p in np.unique(program_all)}
    where = np.minimum(np.searchsorted(distinct, data.copy_of), len(distinct) - 1)
    checked = distinct[where] == data.copy_of
    frame_ok = checked & distinct_ok[where]
    return FrameAccuracy(frame_ok, checked, accuracy(np.ones(len(ok_all), dtype=bool)), per_program)


def sample_distinct(data: FrameData, share: float, rng: np.random.Generator) -> np.ndarray:
    """A share of each program's distinct frames (at least one each), drawn without replacement."""
    programs = data.program[data.distinct]
    picks = []
    for p in np.unique(programs):
        members = data.distinct[programs == p]
        picks.append(rng.choice(members, size=max(1, round(share * len(members))), replace=False))
    return np.concatenate(picks)
