"""Neural Task Programming (Xu et al. 2018): an NPI that reads a task specification.

A program call is (program i, specification psi, observation o). Each step of the call on top of the
stack:
    s = f_ENC(o)                                  the shared observation encoder (also encodes psi's frames)
    c = f_TSE(psi; p, s)                          attention-weighted sum of psi's encoded frames
    k, r = f_CN(s, p, c)                          next program key and end probability (return if r > 0.5)
    next program = argmax_j M_key[j] . k          key-value program memory, as in NPI
    psi' = f_TSI(psi; p, s)                       per-frame Start / End / Inside / Outside from a temporal
                                                  convolution (kernel 3) of psi's frames, concatenated with
                                                  p and s; psi' = frames [argmax Start, argmax End]
    args = API decoder(psi'; p_api, s)            for an API call: its object argument
f_CN is reactive (two feed-forward layers) in NTP; `core="gru"` gives the NTP (GRU) and Flat (GRU)
baselines a recurrent core whose state starts at zero in each call. `scoped=False` hands every call the
whole specification (the "no scope" baseline, and the flat baseline, whose root calls the API itself).

The frames outside a call's scope are invisible to it: they are masked out of the attention and zeroed
before every convolution layer, so a callee cannot read what its caller did not hand it.

Shapes: B call frames (or live stack tops), T steps, L specification frames, F observation numbers, H
hidden units.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

START, END, INSIDE, OUTSIDE = 0, 1, 2, 3
"""The four scope labels of a specification frame."""


@dataclass(frozen=True)
class NTPConfig:
    obs_size: int = 26
    """Numbers in one observation (and one specification frame): xyz of each object, then the rest."""
    objects: int = 8
    """Objects whose xyz open the observation; the encoder reads each with the same small network."""
    object_size: int = 32
    """Features the encoder makes of each object."""
    n_programs: int = 7
    """Programs in the program memory."""
    n_objects: int = 8
    """Values of an API call's object argument."""
    hidden_size: int = 128
    """Width of the encoder, the core, the attention and the interpreter (the paper's FC(128))."""
    program_size: int = 64
    """Program embedding size."""
    key_size: int = 32
    """Program key size."""
    core: str = "feedforward"
    """"feedforward" (NTP: reactive) or "gru" (a recurrent core per call)."""
    scoped: bool = True
    """Hand each callee the scope the interpreter decodes (False: the whole specification, always)."""
    attention_size: int = 64
    """Query and key size of the specification encoder's attention."""
    label_size: int = 64
    """Hidden units of the interpreter's per-frame label network (over [p; y_j; s])."""
    tsi_layers: int = 4
    """Temporal convolution layers (kernel 3) of the specification interpreter: each widens the window
    a frame's label sees by one frame each way."""
    obs_scale: float = 10.0
    """Observations (metres) are multiplied by this before the encoder."""

    def __post_init__(self) -> None:
        if self.core not in ("feedforward", "gru"):
            raise ValueError(f"core must be 'feedforward' or 'gru', got {self.core!r}")
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type in ("int", "float") and value <= 0:
                raise ValueError(f"{f.name} must be positive, got {value}")
        if 3 * self.objects > self.obs_size:
            raise ValueError(
                f"{self.objects} objects need {3 * self.objects} numbers; obs_size is {self.obs_size}"
            )


class NTP(nn.Module):
    kind = "ntp"
    title = "a Neural Task Programming model"
    config_type = NTPConfig

    def __init__(self, config: NTPConfig):
        super().__init__()
        self.config = config
        H, P = config.hidden_size, config.program_size
        # f_ENC: one small network per object (shared weights), then FC(H) over all objects and the rest
        self.object_encoder = nn.Sequential(
            nn.Linear(3, config.object_size),
            nn.ReLU(),
            nn.Linear(config.object_size, config.object_size),
            nn.ReLU(),
        )
        rest = config.obs_size - 3 * config.objects
        self.encoder = nn.Sequential(nn.Linear(config.objects * config.object_size + rest, H), nn.ReLU())
        self.program_embedding = nn.Embedding(config.n_programs, P)
        self.program_keys = nn.Parameter(torch.randn(config.n_programs, config.key_size) * 0.5)
        # f_TSE: dot-product attention over frames, queried by (program, state)
        self.att_frame = nn.Linear(H, config.attention_size)
        self.att_query = nn.Linear(P + H, config.attention_size)
        # f_CN
        core_in = H + P + H
        if config.core == "gru":
            self.gru = nn.GRU(core_in, H, batch_first=True)
        else:
            self.mlp = nn.Sequential(nn.Linear(core_in, H), nn.ReLU(), nn.Linear(H, H), nn.ReLU())
        self.key_head = nn.Linear(H, config.key_size)
        self.end_head = nn.Linear(H, 1)
        # f_TSI: temporal convolutions, then [p; y_j; s] -> 4 labels per frame
        # kernel-3 convolutions, each a linear map of a frame and its two neighbours (the same function
        # as nn.Conv1d(H, H, 3, padding=1), faster as one matmul on CPUs)
        self.convs = nn.ModuleList(nn.Linear(3 * H, H) for _ in range(config.tsi_layers))
        self.label_frame = nn.Linear(H, config.label_size)
        self.label_context = nn.Linear(P + H, config.label_size, bias=False)
        self.label_out = nn.Linear(config.label_size, 4)
        # API argument decoder: (sub-specification summary, API embedding, state) -> object
        self.arg_decoder = nn.Sequential(nn.Linear(H + P + H, H), nn.ReLU(), nn.Linear(H, config.n_objects))

    # -- pieces ------------------------------------------------------------------------------------

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        """(..., F) -> (..., H)."""
        n = 3 * self.config.objects
        xyz = (
            obs[..., :n].unflatten(-1, (self.config.objects, 3)) * self.config.obs_scale
        )  # (..., objects, 3)
        per_object = self.object_encoder(xyz).flatten(-2)  # (..., objects * O)
        return self.encoder(torch.cat([per_object, obs[..., n:]], -1))

    def attend(self, frames: torch.Tensor, mask: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        """Attention-weighted sum of frames (B, L, H) under mask (B, L), one per query (B, T, P + H) ->
        (B, T, H)."""
        keys = self.att_frame(frames)  # (B, L, A)
        scores = self.att_query(query) @ keys.transpose(1, 2) / keys.shape[-1] ** 0.5  # (B, T, L)
        scores = scores.masked_fill(~mask[:, None], float("-inf"))
        return torch.softmax(scores, -1) @ frames

    def interpret(self, frames: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The temporal convolution over the frames in scope (B, L, H) -> (B, L, H)."""
        keep = mask[..., None].float()  # (B, L, 1)
        y = frames * keep
        for conv in self.convs:
            padded = F.pad(y, (0, 0, 1, 1))  # (B, L + 2, H): zero frames before the first and after the last
            y = F.relu(conv(torch.cat([padded[:, :-2], padded[:, 1:-1], padded[:, 2:]], -1))) * keep
        return y

    def label_logits(self, y: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """Scope label logits of every frame (B, L, H) for every step's (program, state) (B, T, P + H)
        -> (B, T, L, 4)."""
        hidden = F.relu(self.label_frame(y)[:, None] + self.label_context(context)[:, :, None])
        return self.label_out(hidden)

    def core(
        self, inputs: torch.Tensor, state: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(B, T, 2H + P) -> program logits (B, T, n_programs), end logits (B, T), next core state."""
        if self.config.core == "gru":
            h, state = self.gru(inputs, state)
        else:
            h = self.mlp(inputs)
        program_logits = self.key_head(h) @ self.program_keys.T
        return program_logits, self.end_head(h).squeeze(-1), state

    def arg_logits(
        self, frames: torch.Tensor, mask: torch.Tensor, api: torch.Tensor, state: torch.Tensor
    ) -> torch.Tensor:
        """Object-argument logits of API calls: the callee's frames (N, L, H) under its scope mask
        (N, L), the API programs (N,) and the encoded states (N, H) -> (N, n_objects)."""
        query = torch.cat([self.program_embedding(api), state], -1)
        summary = self.attend(frames, mask, query[:, None]).squeeze(1)
        return self.arg_decoder(torch.cat([summary, query], -1))

    # -- training ----------------------------------------------------------------------------------

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Outputs for a batch of call frames (teacher forcing). The batch holds:
        program (B,), obs (B, T, F), spec (B, L, F), scope (B, L) bool, next_program (B, T),
        next_scope (B, T, 2) and arg (B, T) (-1 where none)."""
        s = self.encode(batch["obs"])  # (B, T, H)
        frames = self.encode(batch["spec"])  # (B, L, H)
        mask = batch["scope"]  # (B, L)
        p = self.program_embedding(batch["program"])[:, None].expand(-1, s.shape[1], -1)  # (B, T, P)
        context = torch.cat([p, s], -1)  # (B, T, P + H)
        c = self.attend(frames, mask, context)  # (B, T, H)
        program_logits, end_logits, _ = self.core(torch.cat([s, p, c], -1), None)
        out = {"program": program_logits, "end": end_logits}
        if self.config.scoped:
            out["labels"] = self.label_logits(self.interpret(frames, mask), context)  # (B, T, L, 4)
        # argument decoding for the steps that call an API with an argument, on the scope handed on
        rows, steps = (batch["arg"] >= 0).nonzero(as_tuple=True)
        if len(rows):
            sub = self._sub_mask(batch["next_scope"][rows, steps], mask[rows])
            out["arg"] = self.arg_logits(
                frames[rows], sub, batch["next_program"][rows, steps], s[rows, steps]
            )
        return out

    def _sub_mask(self, scope: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The frames a callee sees: its scope (N, 2) when scoped, else the caller's mask (N, L)."""
        if not self.config.scoped:
            return mask
        j = torch.arange(mask.shape[1], device=mask.device)
        return (j >= scope[:, :1]) & (j <= scope[:, 1:]) & mask

    # -- execution ---------------------------------------------------------------------------------

    @torch.no_grad()
    def step(
        self,
        obs: torch.Tensor,
        frames: torch.Tensor,
        mask: torch.Tensor,
        program: torch.Tensor,
        state: torch.Tensor | None,
        takes_object: torch.Tensor,
    ) -> dict[str, Any]:
        """One step of R stack tops: observations (R, F), their specifications' encoded frames (R, L, H)
        and scope masks (R, L), programs (R,), core states ((1, R, H) for a GRU core, else None), and which
        programs take an object argument (n_programs,) bool. Returns end probability, next program, the
        scope handed on (R, 2) and the object argument (R,; -1 for calls without one)."""
        s = self.encode(obs)  # (R, H)
        p = self.program_embedding(program)
        context = torch.cat([p, s], -1)[:, None]  # (R, 1, P + H)
        c = self.attend(frames, mask, context)
        logits, end_logits, state = self.core(torch.cat([s[:, None], p[:, None], c], -1), state)
        next_program = logits[:, 0].argmax(-1)
        if self.config.scoped:
            labels = self.label_logits(self.interpret(frames, mask), context)[:, 0].log_softmax(-1)
            scope = decode_scope(labels, mask)
        else:
            scope = _bounds(mask)
        arg = self.arg_logits(frames, self._sub_mask(scope, mask), next_program, s).argmax(-1)
        arg = torch.where(takes_object[next_program], arg, torch.full_like(arg, -1))
        return {
            "end": torch.sigmoid(end_logits[:, 0]),
            "program": next_program,
            "program_logits": logits[:, 0],
            "scope": scope,
            "arg": arg,
            "state": state,
        }

    # -- checkpoints -------------------------------------------------------------------------------

    @staticmethod
    def upgrade_config(stored: dict) -> dict:
        return stored

    @staticmethod
    def mismatch(config: NTPConfig, payload: dict, task: Any) -> str | None:
        if config.obs_size != task.obs_size or config.n_objects != task.n_objects:
            return f"the model reads {config.obs_size} numbers and {config.n_objects} objects"
        if config.n_programs != len(task.programs):
            return f"the model has {config.n_programs} programs, the task {len(task.programs)}"
        stored = payload.get("programs", {}).get("programs", [])
        if [p.get("name") for p in stored if isinstance(p, dict)] != task.programs.names:
            return "its program set differs from the task's"
        return None


def decode_scope(labels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The most likely contiguous sub-specification [p, q] under the frames' label probabilities: Start
    at p, End at q, Inside between, Outside elsewhere in the scope (the paper's maximum contiguous
    subsequence formulation; taking the two argmaxes alone can join two segments that both end in a
    likely End). A callee makes at least one API call, so q > p; a one-frame scope passes on its frame.
    labels (R, L, 4) log-probabilities, mask (R, L) -> (R, 2)."""
    L = mask.shape[1]
    lp = labels * mask[..., None]  # frames outside the scope count for nothing
    inside = F.pad(lp[..., INSIDE].cumsum(-1), (1, 0))  # (R, L + 1): inside[k] = sum over frames < k
    outside = F.pad(lp[..., OUTSIDE].cumsum(-1), (1, 0))
    p = torch.arange(L, device=mask.device)[:, None]  # (L, 1) start
    q = torch.arange(L, device=mask.device)[None, :]  # (1, L) end
    score = (
        lp[..., START][:, :, None]
        + lp[..., END][:, None, :]
        + (inside[:, None, :-1] - inside[:, 1:, None]) * (q > p)  # frames p+1 .. q-1
        + outside[:, -1, None, None]
        - (outside[:, None, 1:] - outside[:, :-1, None])  # all outside labels but those of p .. q
    )  # (R, L, L)
    valid = mask[:, :, None] & mask[:, None, :] & (q > p)
    single = mask.sum(-1) == 1
    valid = valid | (single[:, None, None] & mask[:, :, None] & mask[:, None, :])
    best = score.masked_fill(~valid, float("-inf")).flatten(1).argmax(-1)
    return torch.stack([best // L, best % L], -1)


def _bounds(mask: torch.Tensor) -> torch.Tensor:
    """(R, L) contiguous masks -> their first and last frames (R, 2)."""
    j = torch.arange(mask.shape[1], device=mask.device)
    first = torch.where(mask, j, mask.shape[1]).min(-1).values
    last = torch.where(mask, j, -1).max(-1).values
    return torch.stack([first, last], -1)


def scope_labels(next_scope: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Training targets of the scope labels: next_scope (B, T, 2) (-1 where the step returns) and the
    caller's mask (B, L) -> (B, T, L) labels, -100 (ignored) outside the caller's scope or on returns."""
    j = torch.arange(mask.shape[1], device=mask.device)[None, None]
    a, b = next_scope[..., :1], next_scope[..., 1:]
    labels = torch.full((*a.shape[:2], mask.shape[1]), OUTSIDE, device=mask.device, dtype=torch.long)
    labels = torch.where((j > a) & (j < b), INSIDE, labels)
    labels = torch.where(j == b, END, labels)
    labels = torch.where(j == a, START, labels)
    ignore = ~mask[:, None] | (a < 0)
    return labels.masked_fill(ignore, -100)
