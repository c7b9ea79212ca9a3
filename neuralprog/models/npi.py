"""Neural Programmer-Interpreter (Reed & de Freitas, 2015), the whole model in one file.

One step of the frame on top of the call stack:

    s_t = f_enc(e_t, a)              encoder of the observation and the frame's arguments
    h_t = f_lstm(mlp([s_t, p]), h)   p = M_prog[program]: the frame's program embedding
    r_t = f_end(h_t)                 probability that the program returns now
    k_t = f_prog(h_t)                next program = argmax_i M_key[i] . k_t
    a'  = f_arg(h_t)                 the next call's three arguments

Every call frame starts from a zero LSTM state, so frames are independent sequences: training runs a
whole batch of frames through the LSTM at once (`forward_frames`), and the interpreter runs one step of
many problems at once (`stepper`). The call stack itself lives in `neuralprog.execute.interpreter`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import PackedSequence


@dataclass(frozen=True)
class NPIConfig:
    """Sizes of an NPI. The paper fixes only the core (2 x 256 LSTM); the rest are our choices."""

    obs_sizes: tuple[tuple[int, ...], ...]
    """Per environment, the number of values of each observation field (addition: 4 fields of 11 =
    blank + 10 digits). One encoder per environment; a multitask model has several."""
    n_programs: int
    """Rows of the program memory (grows when programs are added)."""
    base_programs: tuple[int, ...] = ()
    """The number of programs before each extension (`neuralprog extend`), oldest first: (8,) after one
    extension of an 8-program model. A program may call only programs of its own extension or older
    ones, so no extension changes what the older programs can call (empty: no restriction)."""
    arg_size: int = 10
    """Each argument takes a value in 0..arg_size-1 (the program set's argument spec)."""
    n_args: int = 3
    """Arguments per call (the program set's argument spec; NPI: 3)."""
    state_size: int = 128
    """Output size of the encoder f_enc (the paper's D)."""
    program_size: int = 64
    """Size of a program embedding (the paper's P)."""
    key_size: int = 16
    """Size of a program key (the paper's K; much smaller than P)."""
    mlp_size: int = 256
    """Width of the 2-layer ReLU MLP that merges state and program embedding before the LSTM."""
    hidden_size: int = 256
    """LSTM units per layer (paper: 256)."""
    layers: int = 2
    """LSTM layers (paper: 2)."""
    images: tuple[int, ...] = ()
    """Per environment, the side of the square RGB images it shows (0: none; empty: no environment
    does). An image environment's first observation field is an index into its image bank (see
    `set_images`); its encoder is a CNN over those pixels beside the one-hot fields."""
    layer_norm: bool = False
    """Normalize each hidden layer of the core MLP (LayerNorm before its ReLU). Not in the paper. Without
    it, addition's ADD1 learns its digits for sums below 10 and then sits for hundreds of updates before
    the wrapped ones (8 + 5 -> 3): trained on ADD1's frames alone, 3,000 updates got 81-89% of its steps
    right; with it, every step by 525-1,175."""
    program_to_heads: bool = False
    """Feed the frame's program embedding to the heads too: f_end, f_prog and f_arg read [h, p] instead
    of h. Not in the paper. A program learned on a frozen core (`neuralprog extend`) may have to call, at
    the first step of its frames (zero LSTM state), a program that no trained program calls there: MAX
    calls BUBBLESORT, which nothing calls. No new embedding made the paper's heads reach that call on our
    multitask cores; with this, the embedding can shift the key directly."""
    field_dropout: float = 0.0
    """In training, hide each observation field from the encoder with this probability, at each step
    on its own (its one-hot block reads all zeros). Not in the paper. A sort model trained on 8 arrays
    decides COMPSWAP at the end of the array by its position bits as much as by the two values, and the
    last pair of a first sweep is nearly always (9, x): it returned without swapping 8 and 7 there.
    Seeing steps without the position bits now and then, it leans on the values: at 0.25 (weight decay
    0.5), the worst of 10 seeds sorted 99% of fresh arrays instead of 72% (docs/npi.md). Evaluation and
    the interpreter always see every field."""


State = tuple[torch.Tensor, torch.Tensor]


@dataclass
class StepOutput:
    end_logit: torch.Tensor  # (N,) return when > 0, i.e. probability > 0.5
    key_scores: torch.Tensor  # (N, n_programs) M_key . k
    arg_logits: torch.Tensor  # (N, 3, arg_size)


class NPI(nn.Module):
    program_generation: torch.Tensor  # (n_programs,) buffer: 0 for the core's programs, k for extension k
    kind = "npi"  # in checkpoints (see `neuralprog.checkpoint.load_model`)
    title = "an NPI model"
    config_type = NPIConfig

    @staticmethod
    def upgrade_config(config: dict) -> dict:
        """A stored config in today's form: `base_programs` was a single count before 2026-11-22."""
        base = config.get("base_programs", ())
        if isinstance(base, int):
            config["base_programs"] = (base,) if base else ()
        return config

    @staticmethod
    def mismatch(config: NPIConfig, payload: dict, task) -> str | None:
        """Why a checkpoint of this config cannot run `task`: another program set or observations."""
        if not isinstance(payload.get("programs"), dict):
            return "it holds no program set"
        if payload["programs"] != task.programs.to_json():
            return "it was trained on another program set"
        if config.obs_sizes != task.env_obs_sizes:
            return f"its observation spec {config.obs_sizes} is not the task's {task.env_obs_sizes}"
        programs = task.programs
        if (config.n_programs, config.arg_size, config.n_args) != (
            len(programs),
            programs.arg_size,
            programs.n_args,
        ):
            return "its program memory or argument spec does not fit the task's program set"
        return None

    def __init__(self, config: NPIConfig):
        super().__init__()
        self.config = config
        c = config
        if (
            min(c.n_programs, c.arg_size, c.n_args, c.state_size, c.hidden_size, c.layers, len(c.obs_sizes))
            < 1
        ):
            raise ValueError(f"every NPI size must be at least 1: {c}")
        if c.images and len(c.images) != len(c.obs_sizes):
            raise ValueError(f"NPIConfig.images needs one entry per environment, got {c.images}")
        # f_enc, one per environment: one-hot observation fields and arguments (and, for an image
        # environment, a CNN's features of the image its first field indexes) -> s
        self.input_sizes: list[int] = []
        encoders = []
        self.image_encoders = nn.ModuleDict()
        for e, sizes in enumerate(c.obs_sizes):
            if self.image_side(e):
                self.image_encoders[str(e)] = ImageEncoder(self.image_side(e))
                self.register_buffer(f"image_bank_{e}", torch.zeros(0, dtype=torch.uint8), persistent=False)
                sizes = sizes[1:]  # the image index is not one-hot encoded
            offsets = torch.tensor([0, *sizes[:-1]], dtype=torch.long).cumsum(0)
            arg_offsets = sum(sizes) + c.arg_size * torch.arange(c.n_args)
            # (F + 3,): where each field's one-hot block starts
            self.register_buffer(f"input_offsets_{e}", torch.cat([offsets, arg_offsets]), persistent=False)
            self.input_sizes.append(sum(sizes) + c.n_args * c.arg_size)
            features = ImageEncoder.out_size if self.image_side(e) else 0
            encoders.append(
                nn.Sequential(
                    nn.Linear(self.input_sizes[e] + features, c.state_size),
                    nn.ReLU(),
                    nn.Linear(c.state_size, c.state_size),
                )
            )
        self.encoders = nn.ModuleList(encoders)
        # program memory: embeddings M_prog (N x P) and keys M_key (N x K)
        self.program_embedding = nn.Parameter(0.1 * torch.randn(c.n_programs, c.program_size))
        self.program_keys = nn.Parameter(torch.randn(c.n_programs, c.key_size))
        # which extension added each program (0: trained with the core), for the call mask in `heads`
        bounds = torch.tensor(c.base_programs, dtype=torch.long)
        generation = torch.bucketize(torch.arange(c.n_programs), bounds, right=True)
        self.register_buffer("program_generation", generation, persistent=False)
        # core: MLP over [s, p], then the LSTM
        core: list[nn.Module] = []
        for width in (c.state_size + c.program_size, c.mlp_size):
            core.append(nn.Linear(width, c.mlp_size))
            core += [nn.LayerNorm(c.mlp_size)] if c.layer_norm else []
            core.append(nn.ReLU())
        self.core_mlp = nn.Sequential(*core)
        self.lstm = nn.LSTM(c.mlp_size, c.hidden_size, c.layers)
        # heads f_end, f_prog and f_arg, as one matrix: [end logit | key k (K) | 3 x argument logits]
        head_input = c.hidden_size + (c.program_size if c.program_to_heads else 0)
        self.heads_linear = nn.Linear(head_input, 1 + c.key_size + c.n_args * c.arg_size)

    def zero_state(self, batch: int) -> State:
        c = self.config
        zeros = torch.zeros(c.layers, batch, c.hidden_size, device=self.program_keys.device)
        return zeros, zeros.clone()

    def image_side(self, env: int) -> int:
        """The side of environment `env`'s images (0: it shows none)."""
        return self.config.images[env] if self.config.images else 0

    def set_images(self, env: int, bank: torch.Tensor) -> None:
        """Give environment `env`'s encoder its image bank: (N, side, side, 3) uint8, where N is the
        number of values of the environment's first observation field. Not saved in checkpoints: the
        task renders or loads the images (`neuralprog.execute.common.attach_images`)."""
        side, count = self.image_side(env), self.config.obs_sizes[env][0]
        if bank.dtype != torch.uint8 or tuple(bank.shape) != (count, side, side, 3):
            raise ValueError(
                f"environment {env} needs {count} images of {side}x{side}x3 uint8, got "
                f"{tuple(bank.shape)} {bank.dtype}"
            )
        device = self.program_keys.device
        setattr(self, f"image_bank_{env}", bank.permute(0, 3, 1, 2).contiguous().to(device))  # (N, 3, H, W)

    def needs_images(self) -> list[int]:
        """The image environments whose image bank is not set yet."""
        return [e for e in range(len(self.encoders)) if self.image_side(e) and not self.has_images(e)]

    def has_images(self, env: int) -> bool:
        return len(getattr(self, f"image_bank_{env}")) > 0

    def encode(self, env: int, obs: torch.Tensor, args: torch.Tensor) -> torch.Tensor:
        """Environment `env`'s encoder: (N, F) obs (extra columns ignored), (N, A) args -> (N, S)."""
        offsets = getattr(self, f"input_offsets_{env}")
        first = 1 if self.image_side(env) else 0
        fields = obs[:, first : first + len(offsets) - self.config.n_args]
        index = torch.cat([fields, args], dim=1) + offsets  # (N, F + A)
        x = torch.zeros(len(index), self.input_sizes[env], device=index.device)
        if self.training and self.config.field_dropout:
            # a hidden field writes 0 instead of its 1: its whole one-hot block reads zeros; arguments stay
            shown = torch.ones(index.shape, device=index.device)  # (N, F + A)
            shown[:, : fields.shape[1]] = (
                torch.rand(fields.shape, device=index.device) >= self.config.field_dropout
            )
            x.scatter_(1, index, shown)
        else:
            x.scatter_(1, index, 1.0)
        if first:
            if not self.has_images(env):
                raise ValueError(f"environment {env} shows images but the model has no image bank")
            # each distinct image through the CNN once: a trace's frames share their views
            images, inverse = torch.unique(obs[:, 0], return_inverse=True)
            pixels = getattr(self, f"image_bank_{env}")[images]  # (U, 3, H, W) uint8
            x = torch.cat([x, self.image_encoders[str(env)](pixels)[inverse]], dim=1)
        return self.encoders[env](x)

    def core_input(
        self, obs: torch.Tensor, args: torch.Tensor, program: torch.Tensor, env: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(N, F) obs, (N, 3) args, (N,) program ids, (N,) env ids (None: env 0) -> (N, mlp_size)."""
        if env is None or len(self.encoders) == 1:
            s = self.encode(0, obs, args)  # (N, S)
        else:
            s = obs.new_zeros(len(obs), self.config.state_size, dtype=torch.float)
            for e in range(len(self.encoders)):
                rows = (env == e).nonzero().squeeze(1)
                if len(rows):
                    s = s.index_put((rows,), self.encode(e, obs[rows], args[rows]))
        # not self.program_embedding[program]: that gradient is accumulated by several threads in an order
        # that varies, so the same seed trained other weights from run to run; F.embedding's does not
        p = F.embedding(program, self.program_embedding)  # (N, P)
        return self.core_mlp(torch.cat([s, p], dim=1))  # (N, D)

    def heads(self, h: torch.Tensor, program: torch.Tensor) -> StepOutput:
        """(N, H) top-layer LSTM output of frames running `program` -> end logit, key scores, arg logits."""
        if self.config.program_to_heads:
            h = torch.cat([h, F.embedding(program, self.program_embedding)], dim=1)  # (N, H + P)
        out = self.heads_linear(h)  # (N, 1 + K + 3 * arg_size)
        key = out[:, 1 : 1 + self.config.key_size]  # (N, K)
        key_scores = key @ self.program_keys.T  # (N, n_programs)
        if self.config.base_programs:  # no calls into a newer extension
            generation = self.program_generation
            newer = generation[None, :] > generation[program][:, None]  # (N, n_programs)
            key_scores = key_scores.masked_fill(newer, -1e9)
        return StepOutput(
            end_logit=out[:, 0],
            key_scores=key_scores,
            arg_logits=out[:, 1 + self.config.key_size :].reshape(
                len(h), self.config.n_args, self.config.arg_size
            ),
        )

    def lstm_weights(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per layer ([W_ih W_hh]^T, b_ih + b_hh): one matmul per layer and step. The interpreter computes
        this once per run instead of once per step."""
        weights = []
        for layer in range(self.config.layers):
            w_ih, w_hh, b_ih, b_hh = (
                getattr(self.lstm, f"{n}_l{layer}") for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            )
            weights.append((torch.cat([w_ih, w_hh], dim=1).T.contiguous(), b_ih + b_hh))
        return weights

    def stepper(self):
        """The interpreter's step function: `step` with the LSTM weights prepared once."""
        weights = self.lstm_weights()

        def step(obs, args, program, state, env=None):
            return self.step(obs, args, program, state, weights, env)

        return step

    def step(
        self,
        obs: torch.Tensor,
        args: torch.Tensor,
        program: torch.Tensor,
        state: State,
        lstm_weights: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
        env: torch.Tensor | None = None,
    ) -> tuple[StepOutput, State]:
        """One step for N independent frames: returns the heads' outputs and the new LSTM state."""
        x = self.core_input(obs, args, program, env)  # (N, D)
        h_new, c_new = [], []
        for (w, b), h, c in zip(lstm_weights or self.lstm_weights(), *state, strict=True):
            x, c = _lstm_cell(torch.addmm(b, torch.cat([x, h], dim=1), w), c)  # (N, H)
            h_new.append(x)
            c_new.append(c)
        return self.heads(x, program), (torch.stack(h_new), torch.stack(c_new))

    def forward_frames(
        self, obs: PackedSequence, args: torch.Tensor, program: torch.Tensor, env: torch.Tensor | None = None
    ) -> StepOutput:
        """All steps of a batch of frames, each from a zero state.

        `obs` packs the frames' (T_i, F) observations; `args`, `program` and `env` are per-step in the same
        packed order. Returns the heads' outputs per packed step.
        """
        x = self.core_input(obs.data, args, program, env)  # (sum T_i, D)
        sizes = obs.batch_sizes.tolist()
        for layer in range(self.config.layers):
            x = self._packed_lstm_layer(x, sizes, layer)
        return self.heads(x, program)

    def _packed_lstm_layer(self, x: torch.Tensor, batch_sizes: list[int], layer: int) -> torch.Tensor:
        """One LSTM layer over a packed batch (frames sorted longest first, so the live frames at step t
        are a prefix). The same weights and math as nn.LSTM; written out because nn.LSTM's packed
        backward on CPU spends most of its time zero-filling buffers."""
        w_ih = getattr(self.lstm, f"weight_ih_l{layer}")
        w_hh = getattr(self.lstm, f"weight_hh_l{layer}")
        bias = getattr(self.lstm, f"bias_ih_l{layer}") + getattr(self.lstm, f"bias_hh_l{layer}")
        gates_x = torch.addmm(bias, x, w_ih.T)  # (sum T_i, 4H): input part of every step at once
        h = c = x.new_zeros(batch_sizes[0], self.config.hidden_size)
        outputs = []
        # split (not slicing) so that the backward pass concatenates instead of zero-filling per step
        for n, gates_x_t in zip(batch_sizes, gates_x.split(batch_sizes), strict=True):
            h, c = _lstm_cell(torch.addmm(gates_x_t, h[:n], w_hh.T), c[:n])  # (n, H)
            outputs.append(h)
        return torch.cat(outputs)  # (sum T_i, H)


class ImageEncoder(nn.Module):
    """The CNN of NPI's car images, trained from scratch with the core (the paper: stride-2 convolutions
    and pooling). A first convolution with stride = kernel cuts any image into a 16 x 16 grid of
    patches; two stride-2 convolutions, the first max-pooled, take it to 2 x 2 x 64 features. At full
    resolution, a stride-2 first stage made the CNN four times slower on a CPU and read the azimuth
    no better (docs/npi.md)."""

    out_size = 64 * 2 * 2
    """Features per image."""

    def __init__(self, side: int):
        super().__init__()
        if side < 16 or side % 16:
            raise ValueError(f"image sides are multiples of 16, got {side}")
        patch = side // 16
        self.net = nn.Sequential(
            nn.Conv2d(3, 16, patch, stride=patch),  # (16, 16, 16)
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1),  # (32, 8, 8)
            nn.ReLU(),
            nn.MaxPool2d(2),  # (32, 4, 4)
            nn.Conv2d(32, 64, 3, stride=2, padding=1),  # (64, 2, 2)
            nn.ReLU(),
            nn.Flatten(),
        )

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) uint8 -> (N, out_size)."""
        return self.net(pixels.float() / 255.0 - 0.5)


def _lstm_cell(gates: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """nn.LSTM's cell: (N, 4H) pre-activations in PyTorch's gate order (i, f, g, o) -> new (h, c)."""
    i, f, g, o = gates.chunk(4, dim=1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def step_losses(out: StepOutput, next_program: torch.Tensor, next_args: torch.Tensor, end: torch.Tensor):
    """Per-step loss -log P(end) - log P(next program) - log P(next args); calls are masked on returns.

    Returns (loss per step, correct per step) where a step is correct when every applicable head's
    argmax matches the target.
    """
    calls = ~end
    end_loss = F.binary_cross_entropy_with_logits(out.end_logit, end.float(), reduction="none")
    target_program = next_program.clamp(min=0)
    program_loss = F.cross_entropy(out.key_scores, target_program, reduction="none")
    arg_loss = F.cross_entropy(out.arg_logits.transpose(1, 2), next_args, reduction="none").sum(1)
    loss = end_loss + calls * (program_loss + arg_loss)
    with torch.no_grad():
        end_ok = (out.end_logit > 0) == end
        call_ok = (out.key_scores.argmax(1) == target_program) & (out.arg_logits.argmax(2) == next_args).all(
            1
        )
        correct = end_ok & (end | call_ok)
    return loss, correct
