"""The RL-NTM's offline baseline network with its own optimizer, in the trainer's process or in one of
its own.

Each update has it read the batch's input tapes while the controller plays the episodes (`read_tape`),
asks it for b_t along the episodes (`predict`, then `prediction`), and later fits it to the returns
with one clipped SGD step (`fit`, then `fitted`). Its graph shares nothing with the
controller's, so with a second core it can run in a process of its own while the trainer scores the
episodes and backpropagates through the controller. A thread would not do: both passes are long
sequences of small tensor ops that take and release Python's lock, and two threads ran them slower
than one (README, RL-NTM speed). Either way the same code computes the same floats (single-threaded),
so a run does not depend on where its baseline ran.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import traceback
from multiprocessing.connection import Connection
from typing import Any

import torch

from neuralprog.models.rlntm import Baseline
from neuralprog.train.common import TrainingError


class BaselineFitter:
    """The network and its optimizer: predict b_t, then one step on sum_t live * (target - b_t)^2."""

    def __init__(self, net: Baseline, lr: float, momentum: float, clip: float):
        self.net = net
        self.optimizer = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum)
        self.clip = clip
        self._tape_state: tuple[torch.Tensor, torch.Tensor] | None = None
        self._predicted: torch.Tensor | None = None

    def read_tape(self, tape: torch.Tensor) -> None:
        """Read the batch's (L, B) reversed tapes (`Baseline.tape`), before its episodes are played."""
        self.optimizer.zero_grad(set_to_none=True)
        self._tape_state = self.net.read_tape(tape)

    def predict(self, read_rows: torch.Tensor, memory_reads: torch.Tensor | None) -> torch.Tensor:
        """(T, B) baselines along the played episodes (`Episodes.read_rows`, `Baseline.memory_reads`),
        detached; the graph is kept for `fit`."""
        assert self._tape_state is not None, "predict before read_tape"
        self._predicted = self.net.run_steps(self._tape_state, read_rows, memory_reads)
        self._tape_state = None
        return self._predicted.detach()

    def fit(self, target: torch.Tensor, live: torch.Tensor) -> torch.Tensor:
        """One SGD step towards `target` (T, B) on the live steps, the loss summed over steps and
        averaged over episodes; returns the loss. A non-finite loss takes no step (the trainer stops)."""
        assert self._predicted is not None, "fit before predict"
        loss = ((target - self._predicted) * live).square().sum() / target.shape[1]
        self._predicted = None
        if torch.isfinite(loss):
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.net.parameters(), self.clip)
            self.optimizer.step()
        return loss.detach()

    def state(self) -> dict:
        return {
            "baseline": {k: v.detach().cpu() for k, v in self.net.state_dict().items()},
            "baseline_optimizer": self.optimizer.state_dict(),
        }

    def load_state(self, state: dict) -> None:
        """Restore what `state` gave (from a checkpoint)."""
        self.net.load_state_dict(state["baseline"])
        self.optimizer.load_state_dict(state["baseline_optimizer"])


class OfflineBaseline:
    """A `BaselineFitter` here (`process=False`: each call runs at once) or in a child process, behind
    one interface: `read_tape`, `predict` and `fit` start the work, `prediction` and `fitted` wait
    for it."""

    def __init__(self, fitter: BaselineFitter, process: bool):
        self._local: BaselineFitter | None = None
        self._result: Any = None
        if not process or next(fitter.net.parameters()).device.type != "cpu":
            self._local = fitter
            return
        # A fork starts at once and, unlike a spawn, does not run the user's main script again (a
        # script without a __main__ guard would start training anew in the child). Torch resets its
        # thread pool in a forked child, as for a DataLoader's workers; the CPU-only child uses no GPU.
        # The child takes the fitter as it is; the trainer's copy is left unused.
        forks = "fork" in multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork") if forks else multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, self._conn, fitter), daemon=True)
        self._process.start()
        child.close()  # the child's end lives in the child only: its death closes the pipe

    def read_tape(self, tape: torch.Tensor) -> None:
        if self._local is not None:
            self._local.read_tape(tape)
        else:
            self._send("tape", tape.numpy())

    def predict(self, read_rows: torch.Tensor, memory_reads: torch.Tensor | None) -> None:
        if self._local is not None:
            self._result = self._local.predict(read_rows, memory_reads)
        else:
            self._send("predict", (read_rows.numpy(), None if memory_reads is None else memory_reads.numpy()))

    def prediction(self) -> torch.Tensor:
        return self._result if self._local is not None else torch.from_numpy(self._receive())

    def fit(self, target: torch.Tensor, live: torch.Tensor) -> None:
        if self._local is not None:
            self._result = self._local.fit(target, live)
        else:
            self._send("fit", [target.numpy(), live.numpy()])

    def fitted(self) -> torch.Tensor:
        return self._result if self._local is not None else torch.tensor(self._receive())

    def state(self) -> dict:
        """The network's and its optimizer's state, for a checkpoint."""
        if self._local is not None:
            return self._local.state()
        self._send("state", None)
        return self._receive()

    def close(self) -> None:
        """Stop the process (whatever it was doing: closing the pipe breaks any reply it is sending)."""
        if self._local is not None:
            return
        with contextlib.suppress(OSError):  # a dead process has closed its end
            self._conn.send(("stop", None))
        self._conn.close()
        self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()

    def _send(self, kind: str, value: Any) -> None:
        try:
            self._conn.send((kind, value))
        except OSError:  # a broken pipe: the process is gone, perhaps after reporting why
            if self._conn.poll():
                self._receive()
            raise TrainingError(DIED) from None

    def _receive(self) -> Any:
        try:
            kind, value = self._conn.recv()
        except (EOFError, OSError):
            raise TrainingError(DIED) from None
        if kind == "error":
            raise TrainingError(f"the baseline network's process failed: {value}")
        return value


DIED = "the baseline network's process died; resume the run from its last checkpoint"


def _serve(conn: Connection, parent_end: Connection, fitter: BaselineFitter) -> None:
    """The child process: one thread, requests answered in order until "stop" or a closed pipe (the
    trainer stopped or died). Ctrl-C is the trainer's to handle: it stops the child by closing the pipe."""
    parent_end.close()  # a fork inherits it; held open here, the trainer's death would go unnoticed
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)
    try:
        while True:
            try:
                kind, value = conn.recv()
            except EOFError:
                return
            if kind == "stop":
                return
            if kind == "tape":
                fitter.read_tape(torch.from_numpy(value))
            elif kind == "predict":
                read_rows, reads = value
                memory_reads = None if reads is None else torch.from_numpy(reads)
                conn.send(("ok", fitter.predict(torch.from_numpy(read_rows), memory_reads).numpy()))
            elif kind == "fit":
                conn.send(("ok", float(fitter.fit(*(torch.from_numpy(x) for x in value)))))
            elif kind == "state":
                conn.send(("ok", fitter.state()))
    except OSError:  # the pipe broke: the trainer is gone
        return
    except Exception:  # reported to the trainer, which stops with it
        with contextlib.suppress(OSError):
            conn.send(("error", traceback.format_exc(limit=-1).strip().splitlines()[-1]))
