"""Use a trained NPI from Python: run problems in lockstep and look at one execution step by step.

neuralprog train addition            # or: neuralprog demo
python examples/python_api.py runs/addition/checkpoint.pt
"""

import sys

from neuralprog import checkpoint
from neuralprog.execute import run
from neuralprog.tasks import get_task

payload = checkpoint.load(sys.argv[1] if len(sys.argv) > 1 else "runs/addition/checkpoint.pt")
model, task = checkpoint.load_model(payload), get_task(payload["task"])

# Many problems, one batched forward pass per step for all of them.
problems = [task.parse({"a": "96", "b": "25"}), task.parse({"a": "9" * 500, "b": "1"})]
result = run(model, task, problems)
for problem, output, steps in zip(problems, result.outputs, result.steps, strict=True):
    print(
        f"{problem['a'][:12]}... + {problem['b'][:12]} -> {output[:12]}...  ({steps} steps, correct: "
        f"{output == task.expected(problem)})"
    )


# A callback sees every step after its action: here, count the calls per program.
calls: dict[str, int] = {}


def count(events, machine):
    for event in events:
        if event.next is not None:
            calls[event.next] = calls.get(event.next, 0) + 1


run(model, task, [task.parse({"a": "123456789", "b": "987654321"})], on_step=count)
print("calls while adding two 9-digit numbers:", calls)
