"""Use a trained NPI from Python: run problems in lockstep and look at one execution step by step.

neuralprog train addition            # or: neuralprog demo
python examples/python_api.py runs/addition/checkpoint.pt
"""

import sys

from neuralprog.execute import check, run
from neuralprog.families import load

# Loading checks the checkpoint against its task (config, program set, observations, weights); a bad
# file raises neuralprog.checkpoint.CheckpointError with a one-line message.
loaded = load(sys.argv[1] if len(sys.argv) > 1 else "runs/addition/checkpoint.pt")
model, task = loaded.model, loaded.task

# Many problems, one batched forward pass per step for all of them. A run is correct only when the
# model returned from its root program within its budgets (halted) and the answer is right.
problems = [task.parse({"a": "96", "b": "25"}), task.parse({"a": "9" * 500, "b": "1"})]
result = run(model, task, problems)
for problem, output, steps, halted, correct in zip(
    problems, result.outputs, result.steps, result.halted, check(task, problems, result), strict=True
):
    print(
        f"{problem['a'][:12]}... + {problem['b'][:12]} -> {output[:12]}...  "
        f"({steps} steps, halted: {halted}, correct: {correct})"
    )


# A callback sees every step after its action: here, count the calls per program.
calls: dict[str, int] = {}


def count(events, machine):
    for event in events:
        if event.next is not None:
            calls[event.next] = calls.get(event.next, 0) + 1


run(model, task, [task.parse({"a": "123456789", "b": "987654321"})], on_step=count)
print("calls while adding two 9-digit numbers:", calls)
