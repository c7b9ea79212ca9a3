"""Baselines that NPI is compared with. For now the paper's seq2seq: an encoder-decoder LSTM.

The encoder reads the input tokens; its final LSTM state (every layer's h and c) is the decoder's first
state. The decoder starts from BOS and emits the output tokens one by one up to EOS. It learns from
input/output pairs only, with no execution traces: that is the point of the comparison.

Token convention: the last three ids of the vocabulary are BOS, EOS and PAD, so the model needs no
codec to decode; `neuralprog.train.seq2seq` puts the task's own tokens (digits, '+') before them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

State = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class Seq2SeqConfig:
    """Sizes of the seq2seq baseline. The paper fixes the LSTM (2 x 256); the embedding size is ours."""

    vocab_size: int
    """Number of token ids, special tokens included; the last three are BOS, EOS and PAD."""
    hidden_size: int = 256
    """LSTM units per layer, in the encoder and in the decoder (paper: 256)."""
    layers: int = 2
    """LSTM layers of the encoder and of the decoder (paper: 2)."""
    embedding_size: int = 64
    """Size of a token embedding, shared by encoder and decoder."""


class Seq2Seq(nn.Module):
    kind = "seq2seq"  # in checkpoints (see `neuralprog.checkpoint.load_model`)
    title = "a seq2seq baseline"
    config_type = Seq2SeqConfig

    @staticmethod
    def upgrade_config(config: dict) -> dict:
        return config

    @staticmethod
    def mismatch(config: Seq2SeqConfig, payload: dict, task) -> str | None:
        return None  # it answers any task its codec reads (checked when it runs)

    def __init__(self, config: Seq2SeqConfig):
        super().__init__()
        if config.vocab_size < 4:
            raise ValueError(f"vocab_size must leave room for BOS, EOS and PAD, got {config.vocab_size}")
        self.config = config
        c = config
        self.bos, self.eos, self.pad = c.vocab_size - 3, c.vocab_size - 2, c.vocab_size - 1
        self.embedding = nn.Embedding(c.vocab_size, c.embedding_size, padding_idx=self.pad)
        self.encoder = nn.LSTM(c.embedding_size, c.hidden_size, c.layers, batch_first=True)
        self.decoder = nn.LSTM(c.embedding_size, c.hidden_size, c.layers, batch_first=True)
        self.output = nn.Linear(c.hidden_size, c.vocab_size)

    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor) -> State:
        """(B, S) padded input tokens and (B,) lengths -> the encoder's final (h, c), each (layers, B, H).

        The input is packed, so each row's state is taken after its own last token: padding never enters
        the state, and a row gives the same result alone or beside longer rows.
        """
        packed = pack_padded_sequence(
            self.embedding(src), src_lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        _, state = self.encoder(packed)
        return state

    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: (B, T) decoder inputs (BOS, then the target shifted right) -> (B, T, V) logits.

        Padding at the end of `tgt_in` only affects the logits at padded positions (the decoder runs
        left to right), which the loss masks out.
        """
        out, _ = self.decoder(self.embedding(tgt_in), self.encode(src, src_lengths))
        return self.output(out)

    @torch.no_grad()
    def greedy_decode(self, src: torch.Tensor, src_lengths: torch.Tensor, max_len: int) -> torch.Tensor:
        """Decode a whole batch at once, feeding back each step's most likely token.

        Returns (B, T) tokens with T <= max_len: each row's output up to and including its EOS, then PAD.
        A row that never emits EOS runs to max_len; decoding stops as soon as every row has ended.
        """
        state = self.encode(src, src_lengths)
        token = torch.full((len(src),), self.bos, dtype=torch.long, device=src.device)
        done = torch.zeros(len(src), dtype=torch.bool, device=src.device)
        outputs = []
        for _ in range(max_len):
            out, state = self.decoder(self.embedding(token)[:, None], state)  # (B, 1, H)
            token = self.output(out[:, 0]).argmax(1)  # (B,)
            token = token.masked_fill(done, self.pad)
            outputs.append(token)
            done = done | (token == self.eos)
            if bool(done.all()):
                break
        if not outputs:
            return torch.empty(len(src), 0, dtype=torch.long, device=src.device)
        return torch.stack(outputs, dim=1)
