"""Runners: the call-stack interpreter (NPI), the RL-NTM's episodes, the seq2seq baseline's decoding.

Every runner returns a `RunResult`; `check` says which runs are correct (halted with the right answer).
"""

from neuralprog.execute.common import RunResult, check
from neuralprog.execute.interpreter import CallStackModel, StepEvent, run, run_one_at_a_time

__all__ = ["CallStackModel", "RunResult", "StepEvent", "check", "run", "run_one_at_a_time"]
