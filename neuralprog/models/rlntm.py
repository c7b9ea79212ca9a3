"""Reinforcement-learning Neural Turing Machine (Zaremba & Sutskever, 2015), the whole model in one file.

At every step the controller reads the input symbols around the input head, the memory cells around
the memory head and the actions it took at the previous step, and produces:

    input-head move (-1/0/+1)   memory-head move (-1/0/+1)   output: stay or advance   (sampled: REINFORCE)
    the predicted symbol, emitted when the output advances;  the new memory cell        (backprop)

A new cell is cell * sigmoid(f) + tanh(w). Head-move logits are multiplied by an inverse temperature
(paper: 0.01). Controllers:
- "lstm": one LSTM layer between the reads and the heads;
- "direct": the same LSTM, plus direct-access paths (paper, Sec. 8.1), each scaled by a sigmoid gate
  computed from the LSTM state: the input symbol (one-hot) is added to the new memory cell and to the
  prediction logits, the memory cell read is added to the prediction logits, and the cell just written
  is added to the cell the memory head moves onto. With `predict_from_state` off (not in the paper),
  symbols reach the prediction only along these paths: the state steers, but holds no answers;
- "feedforward": one tanh layer, no recurrent state.

An episode batch runs in two passes. `rollout` plays every episode to its end in lockstep without
autograd: one controller step per time step for all episodes at once, the actions picked by a `Chooser`
(sampling, greedy, or the gradient checker's enumeration, which branches each episode into all of its
action sequences). It records what the controller read, the actions, and what the controller
computed (a `Record`: LSTM gates and states, memory reads and writes). `score` then gives the same
controller outputs with autograd: without memory the whole (T, B) sequence goes through one LSTM call
(`lstm_sequence`), with memory one replay of the reads, the controller state and the writes through
time (`_MemoryScan`); both have hand-written backwards and take the rollout's record as their forward
pass, so a training update computes the controller's steps once. Without one (the baseline network,
tests), they recompute it from what the episodes read. A test checks that the two agree with the
stepwise logits and with each other, and `neuralprog gradcheck` checks the gradients.

`Baseline` is the paper's offline baseline network: an LSTM that first reads the whole input tape (in
reverse) and then runs beside the controller on the same inputs, predicting the future reward b_t at
each step before the action at t.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

ACTION_SLOTS = 3
"""Actions per step: input move, memory move, output advance. Logits are laid out (B, 3, 3): the output
head's third column is always masked."""
INPUT, MEMORY, OUTPUT = range(ACTION_SLOTS)
NEG_INF = float("-inf")
GATES = 4
"""Direct-access gates: input->memory, input->output, memory->output, memory->next cell."""
STAY = 1
"""A head move is one of three actions, position change = action - 1: STAY is the middle one."""


class Tapes(Protocol):
    """What the model needs of a batch of tape problems (`neuralprog.envs.tapes.TapeBatch` is one): the
    tapes as tensors, heads that move, and the step bound."""

    batch_size: int
    device: torch.device
    vocab: int  # symbols a prediction chooses among
    read_vocab: int  # symbols a read can return
    input: torch.Tensor  # (B, padded length) input tapes
    pad: int  # blank cells before each input tape
    input_length: torch.Tensor  # (B,)
    input_pos: torch.Tensor  # (B,) input head positions
    memory: torch.Tensor | None  # (B, cells, D) memory tapes (memory tasks)
    memory_pos: torch.Tensor  # (B,) memory head positions
    memory_origin: int  # where memory position 0 is in `memory`
    memory_cells: int
    target: torch.Tensor  # (B, longest target)
    target_length: torch.Tensor  # (B,)
    bound: torch.Tensor  # (B,) step bound

    @property
    def done(self) -> torch.Tensor: ...

    def read_input(self) -> torch.Tensor: ...

    def read_memory(self) -> torch.Tensor: ...

    def forced(self) -> torch.Tensor: ...

    def write(self, cells: torch.Tensor) -> None: ...

    def add_to_cell(self, cells: torch.Tensor) -> None: ...

    def move(self, input_move: torch.Tensor, memory_move: torch.Tensor, advance: torch.Tensor) -> None: ...

    def select(self, rows: torch.Tensor) -> None: ...


@dataclass(frozen=True)
class RLNTMConfig:
    """An RL-NTM's shape. Defaults are the authors' (paper, Sec. 9 and their released code)."""

    controller: str = "direct"
    """"lstm", "direct" (LSTM with direct-access paths) or "feedforward"."""
    hidden_size: int = 25
    """Controller units (authors: a 1-layer LSTM of 25)."""
    cell_size: int = 35
    """Reals per memory cell (paper: 35); at least 31 for the direct path from a symbol to a cell."""
    window: int = 2
    """The heads read their cell and this many on each side (authors: 2; the paper's text: 0)."""
    memory: bool = False
    """The memory tape exists (set from the task)."""
    input_backward: bool = True
    """The input head may move left (set from the task; ForwardReverse: no)."""
    inverse_temperature: float = 0.01
    """Multiplies the head-move logits (paper: 0.01), which slows the policy's learning."""
    init_std: float = 0.1
    """Gaussian initialization of every weight (paper: 0.1)."""
    baseline_hidden: int = 25
    """Units of the offline baseline LSTM."""
    predict_from_state: bool = True
    """The controller state adds to the prediction logits (paper). Off (direct access only; not in the
    paper): a prediction is a learned bias plus the gated input symbol and memory cell, and the
    controller's writes cannot make or single out symbols in memory (see `RLNTM.__init__`), so it
    routes symbols to the output but cannot answer from symbols it holds in its state (docs/rlntm.md)."""
    vocab: int = 31
    """Symbols a prediction chooses among: the data symbols and END (set from the task's tapes)."""
    read_vocab: int = 32
    """Symbols a read can return: `vocab` plus BLANK, read off either end of the input tape (set from
    the task's tapes)."""


class RLNTM(nn.Module):
    kind = "rlntm"  # in checkpoints (see `neuralprog.checkpoint.load_model`)
    title = "an RL-NTM"
    config_type = RLNTMConfig

    @staticmethod
    def upgrade_config(config: dict) -> dict:
        return config  # vocab and read_vocab, absent before 2026-12-05, default to the tapes' sizes

    @staticmethod
    def mismatch(config: RLNTMConfig, payload: dict, task) -> str | None:
        """Why a checkpoint of this config cannot run the tape task `task`."""
        if (config.memory, config.input_backward) != (task.memory, task.input_backward):
            return "its heads (memory tape, input moves) are not the task's"
        if (config.vocab, config.read_vocab) != (task.vocab, task.read_vocab):
            return f"its symbols ({config.vocab}, {config.read_vocab}) are not the task's tapes'"
        return None

    row_offsets: torch.Tensor
    """(K + 3,) where each read slot's rows start in `read_table` (see `row_offsets`)."""
    static_mask: torch.Tensor
    """(3, 3) additive mask of the actions the task allows (0 or -inf)."""
    write_rows: torch.Tensor | None
    """(2D,) which of the write head's [f, w] outputs each of f and w takes (see __init__)."""
    write_keep: torch.Tensor | None
    """(2D,) multiplies them: zeros where the controller may not write (tanh(0) = 0)."""
    finished_mask: torch.Tensor
    """(3, 3) the one action a finished episode takes."""

    def __init__(self, config: RLNTMConfig):
        super().__init__()
        if config.controller not in ("lstm", "direct", "feedforward"):
            raise ValueError(f"controller is lstm, direct or feedforward, got {config.controller!r}")
        V = config.vocab
        if config.read_vocab <= V or V < 1:
            raise ValueError(f"read_vocab must exceed vocab >= 1, got {config.read_vocab} and {V}")
        if config.controller == "direct" and config.memory and config.cell_size < V:
            raise ValueError(f"the direct path into memory needs cell_size >= {V}, got {config.cell_size}")
        if not config.predict_from_state and config.controller != "direct":
            raise ValueError("predict_from_state=false needs the direct controller (nothing else predicts)")
        if config.window < 0 or config.hidden_size < 1 or (config.memory and config.cell_size < 1):
            raise ValueError("window must be >= 0, hidden_size >= 1 and (with memory) cell_size >= 1")
        self.config = config
        H, D, K = config.hidden_size, config.cell_size, 2 * config.window + 1
        self.recurrent = config.controller != "feedforward"
        self.direct = config.controller == "direct"
        width = 4 * H if self.recurrent else H
        # Every discrete read (K input symbols, the 3 previous actions) is a row of one table, already
        # projected to the LSTM's gate pre-activations: x = sum of K + 3 rows (+ the memory's projection).
        self.read_table = nn.Parameter(torch.empty(K * config.read_vocab + 3 * ACTION_SLOTS, width))
        self.memory_in = nn.Linear(K * D, width, bias=False) if config.memory else None
        self.hidden_in = nn.Linear(H, width) if self.recurrent else None
        self.bias = nn.Parameter(torch.empty(width))
        # Heads, in this order: 9 action logits, [2D write: f, w], [4 gates], [VOCAB prediction logits].
        # The first three are the "control" outputs a step needs before the next one can start.
        self.control_size = ACTION_SLOTS * 3 + (2 * D if config.memory else 0) + (GATES if self.direct else 0)
        self.head = nn.Linear(H, self.control_size + (V if config.predict_from_state else 0))
        self.prediction_bias = None if config.predict_from_state else nn.Parameter(torch.empty(V))
        # Without the state in the prediction, the controller must not make symbols in memory either
        # (it could store them in a cell and read them back into the prediction): the symbol part of a
        # cell, its first VOCAB reals, holds only what the input's one-hot put there. The controller's
        # write w reaches only the reals past it, and one forget gate (f's first) keeps or fades the
        # symbol part as a whole: a forget gate per symbol could pop symbols off a stack of faded
        # one-hots. (The unused head rows stay, with zero gradient: one head layout for all.)
        write_rows, write_keep = None, None
        if config.memory and not config.predict_from_state:
            forget = torch.cat([torch.zeros(V, dtype=torch.long), torch.arange(V, D)])
            write_rows = torch.cat([forget, torch.arange(D, 2 * D)])
            write_keep = torch.cat([torch.ones(D), torch.zeros(V), torch.ones(D - V)])
        self.register_buffer("write_rows", write_rows, persistent=False)
        self.register_buffer("write_keep", write_keep, persistent=False)
        self.direct_scale = nn.Parameter(torch.empty(2)) if self.direct else None
        """How strongly the gated symbol and memory paths push the prediction logits."""
        self.register_buffer("row_offsets", row_offsets(K, config.read_vocab), persistent=False)
        mask = torch.zeros(ACTION_SLOTS, 3)
        mask[OUTPUT, 2] = NEG_INF  # the output head has two actions
        if not config.memory:
            mask[MEMORY] = NEG_INF
            mask[MEMORY, STAY] = 0.0
        if not config.input_backward:
            mask[INPUT, 0] = NEG_INF
        self.register_buffer("static_mask", mask, persistent=False)
        finished = torch.full((ACTION_SLOTS, 3), NEG_INF)
        finished[INPUT, STAY] = finished[MEMORY, STAY] = finished[OUTPUT, 0] = 0.0
        self.register_buffer("finished_mask", finished, persistent=False)
        for p in self.parameters():
            nn.init.normal_(p, std=config.init_std)
        if self.direct_scale is not None:
            nn.init.ones_(self.direct_scale)

    def symbol_one_hot(self, symbol: torch.Tensor, size: int, dtype: torch.dtype) -> torch.Tensor:
        """`symbol_one_hot` with this model's vocabularies."""
        return symbol_one_hot(symbol, size, dtype, self.config.vocab, self.config.read_vocab)

    @property
    def window(self) -> int:
        return self.config.window

    def read_index(self, symbols: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
        """(..., K) symbols read and (..., 3) previous actions -> (..., K + 3) rows of `read_table`."""
        return read_rows(symbols, previous, self.row_offsets)

    def step_bias(self) -> torch.Tensor:
        """(G,) the bias of a step's gate pre-activations: the reads' and (LSTM) the recurrence's."""
        return self.bias if self.hidden_in is None else self.bias + self.hidden_in.bias

    def step(
        self,
        index: torch.Tensor,
        memory_read: torch.Tensor | None,
        h: torch.Tensor,
        c: torch.Tensor,
        bias: torch.Tensor,
        out: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    ) -> None:
        """One controller step from (B, K + 3) read rows, (B, K, D) cells read, the states (B, H) and
        `step_bias()`; writes into `out` (gates, c, tanh(c), h): an LSTM's activated gates (B, 4H, order
        i, f, o, g, as `lstm_sequence`) and new states; the feed-forward controller's one tanh layer
        writes its output into the gates and h, and leaves c and tanh(c) alone."""
        gates, c_out, tc_out, h_out = out
        torch.add(F.embedding_bag(index, self.read_table, mode="sum"), bias, out=gates)
        if self.memory_in is not None and memory_read is not None:
            gates.addmm_(memory_read.flatten(1), self.memory_in.weight.T)
        if self.hidden_in is None:
            h_out.copy_(tanh_(gates))
            return
        gates.addmm_(h, self.hidden_in.weight.T)
        _lstm_forward_step(gates, c, c_out, tc_out, h_out)

    def action_head(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The head-move logits' rows of `head`, (9, H) and (9,), with the inverse temperature folded in
        (a step's logits are then one product; `action_logits` gives the same up to rounding)."""
        n, scale = ACTION_SLOTS * 3, self.config.inverse_temperature
        return scale * self.head.weight[:n], scale * self.head.bias[:n]

    def control(self, h: torch.Tensor) -> torch.Tensor:
        """(..., H) -> (..., control_size): action logits, write and gates, without the prediction."""
        n = self.control_size
        return F.linear(h, self.head.weight[:n], self.head.bias[:n])

    def action_logits(self, control: torch.Tensor) -> torch.Tensor:
        """(..., 3, 3) head-move logits, temperature-scaled, before masking."""
        return self.config.inverse_temperature * control[..., : ACTION_SLOTS * 3].unflatten(
            -1, (ACTION_SLOTS, 3)
        )

    def gates(self, control: torch.Tensor) -> torch.Tensor | None:
        """(..., 4) direct-access gates: input->memory, input->output, memory->output, memory->next cell."""
        return torch.sigmoid(control[..., self.control_size - GATES :]) if self.direct else None

    def write_head(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The rows of `head` that write memory, as (2D [+ 2], H) weight and bias: f and w (the cell
        becomes cell * sigmoid(f) + tanh(w); routed, picked and masked as __init__ says: tanh(0) = 0),
        and on the direct paths the gates input -> memory and memory -> next cell."""
        D, n = self.config.cell_size, ACTION_SLOTS * 3
        weight, bias = self.head.weight[n : n + 2 * D], self.head.bias[n : n + 2 * D]
        if self.write_rows is not None and self.write_keep is not None:
            keep = self.write_keep
            weight, bias = weight[self.write_rows] * keep[:, None], bias[self.write_rows] * keep
        if not self.direct:
            return weight, bias
        gate_in, gate_next = self.control_size - GATES, self.control_size - 1
        rows = [gate_in, gate_next]
        return torch.cat([weight, self.head.weight[rows]]), torch.cat([bias, self.head.bias[rows]])

    def prediction(
        self, h: torch.Tensor, control: torch.Tensor, symbol: torch.Tensor, cell: torch.Tensor | None
    ) -> torch.Tensor:
        """(..., V) prediction logits from the states (or, with `predict_from_state` off, a bias), plus
        on the direct paths the gated input symbol and the cell under the memory head."""
        n, V = self.control_size, self.config.vocab
        if self.prediction_bias is None:
            logits = F.linear(h, self.head.weight[n:], self.head.bias[n:])
        else:
            logits = self.prediction_bias.expand(*h.shape[:-1], V)
        gates = self.gates(control)
        if gates is not None:
            assert self.direct_scale is not None
            symbol_hot = self.symbol_one_hot(symbol, V, h.dtype)
            logits = logits + gates[..., 1:2] * self.direct_scale[0] * symbol_hot
            if cell is not None:
                logits = logits + gates[..., 2:3] * self.direct_scale[1] * cell[..., :V]
        return logits


def row_offsets(K: int, read_vocab: int, device: torch.device | None = None) -> torch.Tensor:
    """(K + 3,) where each read slot's rows start in a read table: K input-symbol slots of `read_vocab`
    rows, then the 3 previous actions of 3 rows each."""
    read = read_vocab * torch.arange(K, device=device)
    return torch.cat([read, K * read_vocab + 3 * torch.arange(ACTION_SLOTS, device=device)])


def read_rows(symbols: torch.Tensor, previous: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """(..., K) symbols read and (..., 3) previous actions -> (..., K + 3) rows of a read table (the
    controller's and the baseline network's share the layout)."""
    return torch.cat([symbols, previous], dim=-1).add_(offsets)


def symbol_one_hot(
    symbol: torch.Tensor, size: int, dtype: torch.dtype, vocab: int, read_vocab: int
) -> torch.Tensor:
    """(...,) symbols -> (..., size) one-hot of the `vocab` data symbols and END; BLANK (the symbol past
    them) reads as all zeros."""
    one_hot = F.one_hot(symbol, read_vocab)[..., :vocab].to(dtype)
    return F.pad(one_hot, (0, size - vocab)) if size > vocab else one_hot


def write_cell(
    writes: torch.Tensor,
    cell: torch.Tensor,
    symbol_hot: torch.Tensor,
    direct: bool,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """The memory write: the write head's outputs (B, 2D [+ 2]) are activated in place (sigmoid(f),
    tanh(w) [, sigmoid of the gates input -> memory and memory -> next cell]); returns the new cell
    (B, D) for the cell under the head, cell * sigmoid(f) + tanh(w) [+ gate * one-hot input symbol]."""
    D = cell.shape[1]
    writes[:, :D].sigmoid_()
    tanh_(writes[:, D : 2 * D])
    writes[:, 2 * D :].sigmoid_()
    new = torch.mul(cell, writes[:, :D], out=out).add_(writes[:, D : 2 * D])
    if direct:
        new.addcmul_(writes[:, 2 * D : 2 * D + 1], symbol_hot)
    return new


class _SumRows(torch.autograd.Function):
    """Sums of table rows: embedding_bag forward; backward one index_add_ per slot (column of the
    index). On a CPU, for the RL-NTM's (4600 x 8) index and 100 columns, that took 0.9 ms, against 1.6
    for a multi-hot matrix product, 2.4 for one index_add_ over all slots and 2.8 for embedding_bag's
    own backward."""

    @staticmethod
    def forward(ctx, table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(index)
        ctx.rows = table.shape[0]
        return F.embedding_bag(index, table, mode="sum")

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (index,) = ctx.saved_tensors
        grad_table = grad.new_zeros(ctx.rows, grad.shape[1])
        for slot in index.T:
            grad_table.index_add_(0, slot, grad)
        return grad_table, None


def sum_rows(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """(R, G) table, (..., n) row indices -> (..., G) sums of the indexed rows."""
    flat = _SumRows.apply(table, index.reshape(-1, index.shape[-1]))
    return flat.view(*index.shape[:-1], table.shape[1])


def tanh_(x: torch.Tensor) -> torch.Tensor:
    """tanh in place, as 2 sigmoid(2x) - 1: on a CPU torch's tanh is several times slower than its
    sigmoid (AVX-512 kernels; a (200, 25) tensor: 14.5 us for tanh, 7.5 us for these four ops; (200,
    100): 52 against 9 us for one sigmoid). The doublings are additions: a product with a Python
    number first copies the number into a tensor of its own. The same to a few float32 roundings."""
    x.add_(x).sigmoid_()
    return x.add_(x).sub_(1)


def _lstm_forward_step(
    a: torch.Tensor, c: torch.Tensor, c_out: torch.Tensor, tc_out: torch.Tensor, h_out: torch.Tensor
) -> None:
    """One LSTM step in place: `a` (B, 4H) holds the pre-activations of the gates (i, f, o, g) and
    becomes the activated gates; writes the new cell state, its tanh and the new state (B, H) into the
    given outputs."""
    H = c.shape[1]
    g = a[:, 3 * H :]
    g.add_(g)  # tanh(g) = 2 sigmoid(2g) - 1 (see `tanh_`): one sigmoid activates all four gates
    a.sigmoid_()
    g.add_(g).sub_(1)
    torch.mul(a[:, H : 2 * H], c, out=c_out).addcmul_(a[:, :H], g)
    tanh_(tc_out.copy_(c_out))
    torch.mul(a[:, 2 * H : 3 * H], tc_out, out=h_out)


GateViews = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]
"""One step's (B, 4H) gates as views: i, f, o, g (B, H) and the three sigmoid gates i, f, o (B, 3H)."""


def _gate_views(x: torch.Tensor) -> list[GateViews]:
    """(T, B, 4H) -> each step's `GateViews`, made all at once (views cost microseconds each)."""
    H = x.shape[-1] // 4
    return list(zip(*(part.unbind() for part in (*x.split(H, dim=-1), x[..., : 3 * H])), strict=True))


def _lstm_backward_step(
    gates: GateViews,
    c_prev: torch.Tensor,
    tc: torch.Tensor,
    dh: torch.Tensor,
    dc: torch.Tensor,
    d_gates: GateViews,
) -> None:
    """The gradient of one LSTM step: from dL/dh_t (dh) and dL/dc_t flowing from later steps (dc, updated
    in place to dL/dc_{t-1}), writes dL/d(pre-activations) into `d_gates`. Derivatives as x - x*x and
    1 - x*x by addcmul from a 0-dim one: no scalar conversions, no tensor of ones."""
    i, f, o, g, ifo = gates
    di, df, do, dg, d_ifo = d_gates
    one = tc.new_ones(())
    dc.addcmul_(dh * o, torch.addcmul(one, tc, tc, value=-1))  # dL/dc_t
    torch.mul(dc, g, out=di)
    torch.mul(dc, c_prev, out=df)
    torch.mul(dh, tc, out=do)
    d_ifo.mul_(torch.addcmul(ifo, ifo, ifo, value=-1))
    torch.mul(dc, i, out=dg).mul_(torch.addcmul(one, g, g, value=-1))
    dc.mul_(f)  # dL/dc_{t-1}


class _LSTMSequence(torch.autograd.Function):
    """An LSTM over a whole sequence whose input projections are given, with a hand-written backward: T
    steps of a few in-place tensor ops each way, instead of an autograd graph of T x 15 nodes. Gate
    order i, f, o, g (the three sigmoid gates first). Given the rollout's `Record` of the same
    computation, the forward pass is that record."""

    @staticmethod
    def forward(ctx, x, bias, weight, h0, c0, record: Record | None):
        if record is not None:
            assert h0 is None and record.gates.shape == x.shape, "a record runs from the zero state"
            acts, cs, tcs, hs = record.gates, record.cs, record.tcs, record.hs
        else:
            acts = x + bias  # (T, B, 4H), activated in place into the gates
            T, B, G = acts.shape
            cs, hs = acts.new_zeros(T + 1, B, G // 4), acts.new_zeros(T + 1, B, G // 4)
            tcs = acts.new_empty(T, B, G // 4)
            if h0 is not None:
                hs[0], cs[0] = h0, c0
            a, c, tc, h = acts.unbind(), cs.unbind(), tcs.unbind(), hs.unbind()  # per-step views, made once
            weight_t = weight.T
            for t in range(T):
                _lstm_forward_step(a[t].addmm_(h[t], weight_t), c[t], c[t + 1], tc[t], h[t + 1])
        ctx.save_for_backward(weight, hs, cs, tcs, acts)
        return hs[1:], cs[-1]

    @staticmethod
    def backward(ctx, grad_h, grad_c):
        weight, hs, cs, tcs, acts = ctx.saved_tensors
        T = len(acts)
        grad_x = torch.empty_like(acts)
        dh = grad_h[T - 1].clone()
        dc = grad_c.clone() if grad_c is not None else torch.zeros_like(dh)
        gates, d_gates = _gate_views(acts), _gate_views(grad_x)
        c, tc, da, gh = cs.unbind(), tcs.unbind(), grad_x.unbind(), grad_h.unbind()
        for t in reversed(range(T)):
            _lstm_backward_step(gates[t], c[t], tc[t], dh, dc, d_gates[t])
            if t:
                dh = torch.addmm(gh[t - 1], da[t], weight)  # dL/dh_{t-1}
        grad_weight = grad_x.flatten(0, 1).T @ hs[:-1].flatten(0, 1)
        grad_h0 = da[0] @ weight if ctx.needs_input_grad[3] else None
        grad_c0 = dc if ctx.needs_input_grad[4] else None
        return grad_x, grad_x.sum((0, 1)), grad_weight, grad_h0, grad_c0, None


def lstm_sequence(
    x: torch.Tensor,
    bias: torch.Tensor,
    weight: torch.Tensor,
    initial: tuple[torch.Tensor, torch.Tensor] | None = None,
    record: Record | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Input projections x (T, B, 4H), a (4H,) bias and the (4H, H) recurrent weight -> the (T, B, H)
    states and the last (B, H) cell state, from `initial` (h, c) or a zero state; gate order i, f, o,
    g. `record`: the rollout's computation of the same (from a zero state), used as the forward pass."""
    h0, c0 = initial if initial is not None else (None, None)
    return _LSTMSequence.apply(x, bias, weight, h0, c0, record)


Chooser = Callable[[torch.Tensor, int], tuple[torch.Tensor | None, torch.Tensor]]
"""(logits (B, 3, 3), masked, step) -> (parent rows or None, actions (B', 3)). Sampling and greedy
choosers keep the rows (None); the gradient checker's enumerating chooser returns, for each new row,
the row it branches from."""


@dataclass
class Record:
    """What the rollout's controller computed at each step, (T, B, ...): `score` takes it as the forward
    pass of its hand-written autograd functions, which then only run their backward (the parameters
    are the same in both passes)."""

    gates: torch.Tensor
    """(T, B, G) the LSTM's activated gates (feed-forward: its output)."""
    cs: torch.Tensor
    """(T + 1, B, H) cell states, from the zero state (feed-forward: zeros)."""
    tcs: torch.Tensor
    """(T, B, H) tanh of cs[1:]."""
    hs: torch.Tensor
    """(T + 1, B, H) controller states, from the zero state."""
    reads: torch.Tensor | None
    """(T, B, 2w + 1, D) the cells read (memory tasks)."""
    writes: torch.Tensor | None
    """(T, B, 2D [+ 2]) the write head's activated outputs (see `write_cell`)."""
    cells: torch.Tensor | None
    """(T, B, D) the cells written."""


@dataclass
class Episodes:
    """A batch of finished episodes: what the controller read and did at each step, (T, B, ...)."""

    tapes: Tapes
    """The problems, with the tapes as they ended (memory contents, head positions)."""
    symbols: torch.Tensor
    """(T, B, K) input symbols read around the input head."""
    actions: torch.Tensor
    """(T, B, 3) input move, memory move, output advance."""
    input_pos: torch.Tensor
    """(T, B) input head position at each step."""
    memory_pos: torch.Tensor | None
    """(T, B) memory head position at each step (memory tasks)."""
    record: Record | None = None
    """What the controller computed along the way, for `score` to reuse (None: `score` recomputes)."""

    @property
    def steps(self) -> int:
        return self.actions.shape[0]

    @cached_property
    def emitted_before(self) -> torch.Tensor:
        """(T, B) symbols emitted before each step."""
        advance = (self.actions[..., OUTPUT] == 1).long()
        before = advance.cumsum(0) - advance
        return before.clamp(max=self.tapes.target_length)  # steps after the end emit nothing

    @cached_property
    def live(self) -> torch.Tensor:
        """(T, B) bool: the episode had not ended before the step."""
        return self.emitted_before < self.tapes.target_length

    @cached_property
    def advance(self) -> torch.Tensor:
        """(T, B) bool: a live step that emitted a symbol."""
        return self.live & (self.actions[..., OUTPUT] == 1)

    @cached_property
    def target(self) -> torch.Tensor:
        """(T, B) the target the output head was on at each step."""
        index = self.emitted_before.clamp(max=self.tapes.target.shape[1] - 1)
        return self.tapes.target.gather(1, index.T).T

    @cached_property
    def forced(self) -> torch.Tensor:
        """(T, B) bool: the output head had to advance (steps left == targets left)."""
        t = torch.arange(self.steps, device=self.actions.device)[:, None]
        return self.tapes.bound - t <= self.tapes.target_length - self.emitted_before

    @cached_property
    def read_rows(self) -> torch.Tensor:
        """(T, B, K + 3) what the controller read at each step, as rows of a read table."""
        offsets = row_offsets(self.symbols.shape[-1], self.tapes.read_vocab, self.symbols.device)
        return read_rows(self.symbols, self.previous, offsets)

    @cached_property
    def previous(self) -> torch.Tensor:
        """(T, B, 3) the actions of the step before (STAY, STAY, 0 at the first)."""
        first = torch.full_like(self.actions[:1], STAY)
        first[..., OUTPUT] = 0
        return torch.cat([first, self.actions[:-1]])


def action_mask(model: RLNTM, forced: torch.Tensor) -> torch.Tensor:
    """(...) forced flags -> (..., 3, 3) additive mask: 0 for allowed actions, -inf for the others."""
    mask = model.static_mask.expand(*forced.shape, ACTION_SLOTS, 3)
    stay = torch.zeros_like(mask)
    stay[..., OUTPUT, 0] = NEG_INF
    return torch.where(forced[..., None, None], mask + stay, mask)


@torch.no_grad()
def rollout(model: RLNTM, tapes: Tapes, choose: Chooser) -> Episodes:
    """Play every episode of `tapes` to its end (the step bound guarantees one), all in lockstep."""
    if (tapes.vocab, tapes.read_vocab) != (model.config.vocab, model.config.read_vocab):
        raise ValueError(
            f"the tapes' symbols ({tapes.vocab}, {tapes.read_vocab} with BLANK) are not the model's "
            f"({model.config.vocab}, {model.config.read_vocab})"
        )
    B, bound, dev = tapes.batch_size, int(tapes.bound.max()), tapes.device
    H, K, D = model.config.hidden_size, 2 * model.window + 1, model.config.cell_size
    # What the episodes read and did and what the controller computed, (step, B, ...), written in place
    # step by step (the states from the zero state at step 0).
    log = {
        "symbols": torch.empty(bound, B, K, dtype=torch.long, device=dev),
        "actions": torch.empty(bound, B, ACTION_SLOTS, dtype=torch.long, device=dev),
        "input_pos": torch.empty(bound, B, dtype=torch.long, device=dev),
        "gates": torch.empty(bound, B, model.bias.shape[0], device=dev),
        "cs": torch.zeros(bound + 1, B, H, device=dev),
        "tcs": torch.zeros(bound, B, H, device=dev),
        "hs": torch.zeros(bound + 1, B, H, device=dev),
    }
    write_head = None
    if tapes.memory is not None:
        write_head = model.write_head()
        log["memory_pos"] = torch.empty(bound, B, dtype=torch.long, device=dev)
        log["reads"] = torch.empty(bound, B, K, D, device=dev)
        log["writes"] = torch.empty(bound, B, write_head[0].shape[0], device=dev)
        log["cells"] = torch.empty(bound, B, D, device=dev)
    at = {name: x.unbind() for name, x in log.items()}  # per-step views, made once
    previous = torch.full((B, ACTION_SLOTS), STAY, dtype=torch.long, device=dev)
    previous[:, OUTPUT] = 0
    bias, (action_weight, action_bias) = model.step_bias(), model.action_head()
    forced_mask = action_mask(model, torch.ones((), dtype=torch.bool, device=dev))
    steps = 0
    for t in range(bound):
        done = tapes.done
        if bool(done.all()):
            break
        steps = t + 1
        symbols = at["symbols"][t].copy_(tapes.read_input())  # (B, K)
        memory_read = at["reads"][t].copy_(tapes.read_memory()) if write_head is not None else None
        state = (at["gates"][t], at["cs"][t + 1], at["tcs"][t], at["hs"][t + 1])
        model.step(model.read_index(symbols, previous), memory_read, at["hs"][t], at["cs"][t], bias, state)
        logits = torch.addmm(action_bias, at["hs"][t + 1], action_weight.T).view(-1, ACTION_SLOTS, 3)
        # Finished episodes get one allowed action, so that the enumerating chooser does not branch them.
        mask = torch.where(tapes.forced().view(-1, 1, 1), forced_mask, model.static_mask)
        mask = torch.where(done.view(-1, 1, 1), model.finished_mask, mask)
        parent, actions = choose(logits + mask, t)
        if parent is not None:  # the enumerating chooser branched the episodes: so do their logs
            tapes.select(parent)
            log = {name: x[:, parent] for name, x in log.items()}
            at = {name: x.unbind() for name, x in log.items()}
        previous = at["actions"][t].copy_(actions)
        at["input_pos"][t].copy_(tapes.input_pos)
        if write_head is None:
            tapes.move(actions[:, INPUT], actions[:, MEMORY], actions[:, OUTPUT])
            continue
        # Write the cell under the memory head, move the heads, and (direct access) add the written
        # cell, gated, to the cell the memory head moved onto.
        at["memory_pos"][t].copy_(tapes.memory_pos)
        writes = torch.addmm(write_head[1], at["hs"][t + 1], write_head[0].T, out=at["writes"][t])
        symbol_hot = model.symbol_one_hot(at["symbols"][t][:, model.window], D, writes.dtype)
        cell = write_cell(
            writes, at["reads"][t][:, model.window], symbol_hot, model.direct, out=at["cells"][t]
        )
        tapes.write(cell)
        tapes.move(actions[:, INPUT], actions[:, MEMORY], actions[:, OUTPUT])
        if model.direct:
            moved = (actions[:, MEMORY] != STAY).to(cell.dtype)[:, None]
            tapes.add_to_cell(writes[:, 2 * D + 1 :] * moved * cell)

    logged = {name: x[: steps + 1] if name in ("cs", "hs") else x[:steps] for name, x in log.items()}
    record = Record(
        gates=logged["gates"],
        cs=logged["cs"],
        tcs=logged["tcs"],
        hs=logged["hs"],
        reads=logged.get("reads"),
        writes=logged.get("writes"),
        cells=logged.get("cells"),
    )
    memory_pos = logged.get("memory_pos")
    return Episodes(tapes, logged["symbols"], logged["actions"], logged["input_pos"], memory_pos, record)


@dataclass
class Scores:
    """The controller's outputs along a batch of episodes, with autograd."""

    action_logits: torch.Tensor
    """(T, B, 3, 3) masked logits."""
    prediction_logits: torch.Tensor
    """(T, B, V)."""
    memory_change: torch.Tensor | None
    """(T, B) the largest change the step's write made to its cell (for traces)."""

    def log_probs(self, episodes: Episodes) -> torch.Tensor:
        """(T, B, 3) log p of each action taken that was a choice (0 for forced, single or dead ones)."""
        logp = F.log_softmax(self.action_logits, dim=-1).gather(-1, episodes.actions[..., None])[..., 0]
        return torch.where(choices(self.action_logits, episodes), logp, torch.zeros_like(logp))

    def entropy(self, episodes: Episodes) -> torch.Tensor:
        """(T, B) the entropy of each step's head moves, summed over the heads that had a choice (a forced
        or single action adds 0, a finished episode's step is 0)."""
        logp = F.log_softmax(self.action_logits, dim=-1)
        logp = torch.where(torch.isfinite(logp), logp, torch.zeros_like(logp))  # masked: 1 * 0, not 0 * -inf
        return -((logp.exp() * logp).sum(-1) * choices(self.action_logits, episodes)).sum(-1)

    def rewards(self, episodes: Episodes) -> torch.Tensor:
        """(T, B) log p(target) at each emitting step, 0 elsewhere (differentiable: the backprop part)."""
        logp = F.log_softmax(self.prediction_logits, dim=-1).gather(-1, episodes.target[..., None])[..., 0]
        return torch.where(episodes.advance, logp, torch.zeros_like(logp))


def choices(action_logits: torch.Tensor, episodes: Episodes) -> torch.Tensor:
    """(T, B, 3) bool: the action was a choice: a live step with more than one action allowed."""
    return (torch.isfinite(action_logits).sum(-1) > 1) & episodes.live[..., None]


def score(model: RLNTM, episodes: Episodes) -> Scores:
    """The controller's outputs along played episodes, with autograd: recomputed from what the
    episodes read, or with the rollout's `Record` of them as the forward pass."""
    index = episodes.read_rows  # (T, B, K + 3)
    symbol = episodes.symbols[..., model.window]  # (T, B) under the input head
    projected = sum_rows(model.read_table, index)  # (T, B, G), the input projections without bias
    mask = action_mask(model, episodes.forced)
    if episodes.memory_pos is None:  # every input is known: the whole sequence at once
        if model.hidden_in is None:
            h = torch.tanh(projected + model.step_bias())
        else:
            h, _ = lstm_sequence(projected, model.step_bias(), model.hidden_in.weight, record=episodes.record)
        control = model.control(h)
        prediction = model.prediction(h, control, symbol, None)
        return Scores(model.action_logits(control) + mask, prediction, None)

    # With memory, step through time: the cells read depend on what earlier steps wrote. The heads'
    # positions are known from the rollout; `_MemoryScan` replays the recurrence (reads, controller
    # state, writes) with a hand-written backward, and the heads then run on all steps at once.
    tapes, D, w = episodes.tapes, model.config.cell_size, model.window
    assert episodes.memory_pos is not None and model.memory_in is not None
    at = episodes.memory_pos + tapes.memory_origin  # (T, B) the cell under the memory head
    read_at = (at[..., None] + torch.arange(-w, w + 1, device=at.device))[..., None].expand(-1, -1, -1, D)
    write_at = at[..., None, None].expand(-1, -1, 1, D)
    moved = (episodes.actions[..., MEMORY] != STAY).to(projected.dtype)[..., None]  # (T, B, 1)
    symbol_hot = model.symbol_one_hot(symbol, D, projected.dtype)  # (T, B, D)
    write_weight, write_bias = model.write_head()  # (2D [+ 2], H)
    recurrent = model.hidden_in
    h, read, cells = _MemoryScan.apply(
        projected + model.step_bias(),
        model.memory_in.weight.T,
        None if recurrent is None else recurrent.weight.T,
        write_weight.T,
        write_bias,
        (read_at, write_at, moved, symbol_hot, tapes.memory_cells, w, model.direct),
        episodes.record,
    )
    control = model.control(h)
    prediction = model.prediction(h, control, symbol, read[:, :, w])
    change = (cells - read[:, :, w]).detach().abs().amax(-1)
    return Scores(model.action_logits(control) + mask, prediction, change)


class _MemoryScan(torch.autograd.Function):
    """The controller and the memory tape through time, given where the heads were at each step:

        read_t = the 2w+1 cells around the memory head        a_t = x_t + read_t W_mem + h_{t-1} W_hh
        h_t, c_t = LSTM cell(a_t) (feed-forward: h_t = tanh(a_t))
        f, w, [g_in, g_next] = the write head on h_t          cell = read_t[w] * sigmoid(f) + tanh(w)
        [direct: cell += sigmoid(g_in) * one-hot input symbol]
        the cell under the head <- cell; [direct: the next cell += sigmoid(g_next) * cell if the head moved]

    With autograd this is ~40 graph nodes and several full copies of the memory per step; here forward
    and backward are a few in-place tensor ops per step, and the gradient of the memory is one tensor
    updated in place. `neuralprog gradcheck` checks it against finite differences of the objective.
    Returns (T, B, H) states, (T, B, 2w+1, D) cells read, (T, B, D) cells written (not differentiable).
    Given the rollout's `Record` of the same computation, the forward pass is that record.
    """

    @staticmethod
    def forward(ctx, x, memory_weight_t, hidden_weight_t, write_weight_t, write_bias, plan, record):
        read_at, write_at, moved, symbol_hot, n_cells, w, direct = plan
        if record is not None:
            assert record.gates.shape == x.shape, "a record of other episodes"
            acts, cs, tcs, hs = record.gates, record.cs, record.tcs, record.hs
            reads, writes, cells = record.reads, record.writes, record.cells
        else:
            T, B, _ = x.shape
            D, K, H = symbol_hot.shape[2], read_at.shape[2], write_weight_t.shape[0]
            memory = x.new_zeros(B, n_cells, D)
            hs, cs = x.new_zeros(T + 1, B, H), x.new_zeros(T + 1, B, H)
            tcs, acts = x.new_zeros(T, B, H), torch.empty_like(x)
            reads, cells = x.new_empty(T, B, K, D), x.new_empty(T, B, D)
            writes = x.new_empty(T, B, write_weight_t.shape[1])  # activated write-head outputs
            for t in range(T):
                torch.gather(memory, 1, read_at[t], out=reads[t])
                a = torch.addmm(x[t], reads[t].view(B, K * D), memory_weight_t, out=acts[t])
                if hidden_weight_t is not None:
                    a.addmm_(hs[t], hidden_weight_t)
                    _lstm_forward_step(a, cs[t], cs[t + 1], tcs[t], hs[t + 1])
                else:
                    hs[t + 1] = tanh_(a)
                wr = torch.addmm(write_bias, hs[t + 1], write_weight_t, out=writes[t])
                cell = write_cell(wr, reads[t][:, w], symbol_hot[t], direct, out=cells[t])
                if t + 1 < T:
                    memory.scatter_(1, write_at[t], cell[:, None])
                    if direct:
                        to_next = wr[:, 2 * D + 1 :] * moved[t] * cell
                        memory.scatter_add_(1, write_at[t + 1], to_next[:, None])
        ctx.save_for_backward(
            memory_weight_t, hidden_weight_t, write_weight_t, hs, cs, tcs, acts, reads, cells, writes
        )
        ctx.plan = plan
        reads, cells = reads.detach(), cells.detach()  # new tensors: a record stays out of the graph
        ctx.mark_non_differentiable(cells)
        return hs[1:], reads, cells

    @staticmethod
    def backward(ctx, grad_h, grad_reads, _grad_cells):
        memory_weight_t, hidden_weight_t, write_weight_t, hs, cs, tcs, acts, reads, cells, writes = (
            ctx.saved_tensors
        )
        read_at, write_at, moved, symbol_hot, n_cells, w, direct = ctx.plan
        T, B, _ = acts.shape
        K, D = reads.shape[2], reads.shape[3]
        H = hs.shape[2]
        lstm = hidden_weight_t is not None
        grad_memory = acts.new_zeros(B, n_cells, D)
        grad_x = torch.empty_like(acts)
        grad_memory_weight_t = torch.zeros_like(memory_weight_t)
        grad_write_weight_t = torch.zeros_like(write_weight_t)
        grad_write_bias = acts.new_zeros(write_weight_t.shape[1])
        grad_hidden_weight_t = torch.zeros_like(hidden_weight_t) if lstm else None
        dh_next = acts.new_zeros(B, H)
        dc = acts.new_zeros(B, H)
        if lstm:
            gates, d_gates = _gate_views(acts), _gate_views(grad_x)
        for t in reversed(range(T)):
            wr, cell = writes[t], cells[t]
            sf, tw = wr[:, :D], wr[:, D : 2 * D]
            # The writes of step t (the last step's is never read): the cell under the head was
            # replaced, and on the direct path the next cell received gate * cell.
            d_wr = torch.zeros_like(wr)
            if t + 1 < T:
                d_cell = grad_memory.gather(1, write_at[t])[:, 0]
                if direct:  # (before the zeroing below: a move against the tape's end adds to the same cell)
                    g_next = wr[:, 2 * D + 1 :]
                    d_next = grad_memory.gather(1, write_at[t + 1])[:, 0] * moved[t]
                    d_cell = d_cell + g_next * d_next
                    d_wr[:, 2 * D + 1 :] = (d_next * cell).sum(1, keepdim=True) * g_next * (1 - g_next)
                grad_memory.scatter_(1, write_at[t], 0.0)
                read_center = reads[t][:, w]
                d_wr[:, :D] = d_cell * read_center * sf * (1 - sf)
                d_wr[:, D : 2 * D] = d_cell * (1 - tw * tw)
                if direct:
                    g_in = wr[:, 2 * D : 2 * D + 1]
                    d_wr[:, 2 * D : 2 * D + 1] = (
                        (d_cell * symbol_hot[t]).sum(1, keepdim=True) * g_in * (1 - g_in)
                    )
                d_read_center = d_cell * sf
            else:
                d_read_center = None
            grad_write_weight_t.addmm_(hs[t + 1].T, d_wr)
            grad_write_bias += d_wr.sum(0)
            dh = grad_h[t] + dh_next + d_wr @ write_weight_t.T
            da = grad_x[t]
            if lstm:
                _lstm_backward_step(gates[t], cs[t], tcs[t], dh, dc, d_gates[t])
                assert grad_hidden_weight_t is not None
                grad_hidden_weight_t.addmm_(hs[t].T, da)
                dh_next = da @ hidden_weight_t.T
            else:
                torch.mul(dh, 1 - acts[t] * acts[t], out=da)
            read = reads[t].view(B, K * D)
            grad_memory_weight_t.addmm_(read.T, da)
            d_read = (da @ memory_weight_t.T).view(B, K, D)
            if grad_reads is not None:
                d_read = d_read + grad_reads[t]
            if d_read_center is not None:
                d_read[:, w] += d_read_center
            grad_memory.scatter_add_(1, read_at[t], d_read)
        grads = grad_x, grad_memory_weight_t, grad_hidden_weight_t, grad_write_weight_t, grad_write_bias
        return *grads, None, None


class Baseline(nn.Module):
    """The offline baseline (paper, appendix A): reads the whole input tape in reverse, then runs beside
    the controller on the same inputs and predicts the future reward b_t before the action at t."""

    def __init__(self, config: RLNTMConfig):
        super().__init__()
        K, H = 2 * config.window + 1, config.baseline_hidden
        self.config = config
        self.read_table = nn.Parameter(torch.empty(K * config.read_vocab + 3 * ACTION_SLOTS, 4 * H))
        self.tape_table = nn.Parameter(torch.empty(config.read_vocab, 4 * H))
        self.memory_in = nn.Linear(K * config.cell_size, 4 * H, bias=False) if config.memory else None
        self.recurrent = nn.Linear(H, 4 * H)
        self.out = nn.Linear(H, 1)
        for p in self.parameters():
            nn.init.normal_(p, std=config.init_std)

    @staticmethod
    def memory_reads(episodes: Episodes) -> torch.Tensor | None:
        """(T, B, K * D) the cells the controller read at each step, as the rollout recorded them
        (memory tasks; None otherwise)."""
        if episodes.memory_pos is None:
            return None
        assert episodes.record is not None and episodes.record.reads is not None
        return episodes.record.reads.flatten(2)

    @staticmethod
    def tape(tapes: Tapes) -> torch.Tensor:
        """(L, B) the input tapes, padded with blanks to the batch's longest and reversed: a shorter
        tape's blanks come first, then its END, then its last symbol... its first."""
        L = int(tapes.input_length.max())
        return tapes.input[:, tapes.pad : tapes.pad + L].flip(1).T

    def read_tape(self, tape: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The LSTM's (h, c) after reading the (L, B) reversed tape: what it starts the steps from."""
        weight, bias = self.recurrent.weight, self.recurrent.bias
        h, c = lstm_sequence(sum_rows(self.tape_table, tape[..., None]), bias, weight)
        return h[-1], c

    def run_steps(
        self,
        state: tuple[torch.Tensor, torch.Tensor],
        read_rows: torch.Tensor,
        memory_reads: torch.Tensor | None,
    ) -> torch.Tensor:
        """(T, B) baselines: the LSTM from `state` on what the controller read at each step."""
        rows = sum_rows(self.read_table, read_rows)  # (T, B, 4H)
        if self.memory_in is not None and memory_reads is not None:
            rows = rows + self.memory_in(memory_reads)
        h, _ = lstm_sequence(rows, self.recurrent.bias, self.recurrent.weight, initial=state)
        return self.out(h)[..., 0]

    def forward(self, episodes: Episodes) -> torch.Tensor:
        """(T, B) baselines along played episodes: the tape first, then the steps."""
        state = self.read_tape(self.tape(episodes.tapes))
        return self.run_steps(state, episodes.read_rows, self.memory_reads(episodes))
