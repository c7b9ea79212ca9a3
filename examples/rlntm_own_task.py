"""Add a tape task of your own to the RL-NTM, check its gradient exactly, train it and watch it run.

The task here is Double: x1..xC -> x1 x1 x2 x2 .. xC xC. A task says, for whole batches of phrases,
what goes on the input tape and what the target is, and how many steps a reference solution takes (the
step bound is that plus 2). Registering it (`neuralprog.registry.register_task`) makes every part of
the library take it: presets, the trainer, the checker, eval, solve and trace.

    python examples/rlntm_own_task.py            # a minute or a few on a laptop CPU (2,600 to 3,900 updates)
"""

import dataclasses
from pathlib import Path

import numpy as np

from neuralprog.envs.tapes import RIGHT, STAY, TapeTask
from neuralprog.execute.rlntm import trace
from neuralprog.families import load
from neuralprog.models.rlntm import RLNTMConfig
from neuralprog.presets import get_preset
from neuralprog.registry import register_task
from neuralprog.train import gradcheck, reinforce


class Double(TapeTask):
    """x1..xC -> each symbol twice: emit, stay, emit again, move on."""

    name, env_id = "double", "neuralprog/Double-v0"
    top_size = 6

    def layout(self, phrases, sizes, repeats):
        # (input values, input lengths, target values, target lengths), END symbols are added for us
        return phrases, sizes, np.repeat(phrases, 2, axis=1), 2 * sizes

    def steps(self, sizes, repeats):
        return 2 * sizes + 1

    def reference(self, problem):
        return [(STAY, STAY, 1), (RIGHT, STAY, 1)] * self.size(problem) + [(RIGHT, STAY, 1)]


task = Double()
register_task(task)
print(task.input_tape({"input": [4, 17]}), "->", task.target({"input": [4, 17]}))

# 1. The exact REINFORCE gradient check on a one-symbol problem (every action sequence enumerated).
result = gradcheck.check(task, RLNTMConfig(controller="direct"), [{"input": [4]}])
print(f"gradient check: {result.sequences} sequences, worst relative error {result.worst_error:.1e}")

# 2. Train it with the paper's settings and curriculum (top size 6), from the copy preset's shape. A
# second run of this script resumes the first (and finds it solved).
preset = dataclasses.replace(get_preset("rlntm-copy"), name="rlntm-double", task=task.name)
out = Path("runs/rlntm-double")
path = reinforce.train(preset, out, resume=out.exists(), progress=False)

# 3. Watch it: the input head stays for one step after each symbol. (Solved means exact on 95% of
# top-size problems: a trace can still show a mistake.)
model = load(path).model
print(trace(model, task, {"input": [3, 14, 7]}))
