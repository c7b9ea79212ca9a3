"""One NPI for many tasks (Reed & de Freitas, Sec. 4.3): a shared core and program memory, an encoder
per environment.

`MultiTask` joins tasks into one: its program set is the union of theirs (a program with the same name,
such as ACT or LSHIFT, is one program, and its key and embedding are shared), a problem names its task
(`{"task": "sort", "array": [3, 1, 2]}`), and each problem's observations go through its environment's
encoder. A batch may mix tasks: the machine dispatches each row to its task's machine. Everything that
works on a task (traces, training, the interpreter, eval, solve, trace) works on a MultiTask unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from neuralprog.programs import Program, ProgramSet
from neuralprog.tasks import Args, Calls, Task


def union_programs(tasks: Sequence[Task]) -> ProgramSet:
    """The programs of all tasks in order of first appearance; a shared name merges the call lists."""
    merged: dict[str, Program] = {}
    for task in tasks:
        for p in task.programs.programs:
            if p.name in merged:
                old = merged[p.name]
                if old.primitive != p.primitive:
                    raise ValueError(f"program {p.name} is primitive in one task and not in another")
                calls = old.calls + tuple(c for c in p.calls if c not in old.calls)
                merged[p.name] = Program(p.name, p.primitive, calls, old.doc)
            else:
                merged[p.name] = p
    return ProgramSet(tuple(merged.values()), max(t.programs.arg_size for t in tasks))


class MixedMachine:
    """Rows of several tasks' machines behind one batch interface."""

    def __init__(self, parts: dict[str, Task], problems: list[dict], width: int):
        self.batch_size = len(problems)
        self.width = width
        self.task_of = [p["task"] for p in problems]
        self.machines = {}
        self.local = np.zeros(len(problems), dtype=np.int64)  # row -> row in its task's machine
        for name in dict.fromkeys(self.task_of):
            rows = [i for i, t in enumerate(self.task_of) if t == name]
            self.machines[name] = parts[name].machine([problems[i] for i in rows])
            self.local[rows] = np.arange(len(rows))
        self.rows_of = {name: np.asarray([t == name for t in self.task_of]) for name in self.machines}

    def observe(self) -> np.ndarray:
        obs = np.zeros((self.batch_size, self.width), dtype=np.int64)
        for name, machine in self.machines.items():
            part = machine.observe()
            obs[self.rows_of[name], : part.shape[1]] = part
        return obs

    def act(self, rows: np.ndarray, args: np.ndarray) -> None:
        for name, machine in self.machines.items():
            mine = self.rows_of[name][rows]
            if mine.any():
                machine.act(self.local[rows[mine]], args[mine])

    def outputs(self) -> list[Any]:
        outs = {name: machine.outputs() for name, machine in self.machines.items()}
        return [outs[name][self.local[i]] for i, name in enumerate(self.task_of)]

    def render(self, row: int) -> str:
        return self.machines[self.task_of[row]].render(int(self.local[row]))

    def part(self, row: int) -> tuple[Any, int]:
        """The machine of a row's own task, and the row's index in it."""
        return self.machines[self.task_of[row]], int(self.local[row])


class MultiTask:
    """Several tasks as one (see the module docstring)."""

    def __init__(self, name: str, parts: Sequence[Task], sample_from: Sequence[str] | None = None):
        self.name = name
        self.parts = {t.name: t for t in parts}
        self.sample_from = list(sample_from or self.parts)
        self.programs = union_programs(parts)
        envs = list(dict.fromkeys(t.env_id for t in parts))
        self.env_id = "+".join(envs)
        self._env = {t.name: envs.index(t.env_id) for t in parts}
        specs = {t.env_id: t.obs_specs[0] for t in parts}
        self.obs_specs = tuple(specs[e] for e in envs)
        if any(s.sizes is None for s in self.obs_specs):  # observations are padded to the widest
            raise ValueError("a multitask joins tasks whose observations are discrete fields")
        self.env_obs_sizes = tuple(s.sizes for s in self.obs_specs if s.sizes is not None)
        self.obs_sizes = max(self.env_obs_sizes, key=len)
        self.obs_names = tuple(f"F{i}" for i in range(len(self.obs_sizes)))
        self.root = parts[0].root
        self.oracle = {
            name: self._dispatch(name) for name in self.programs.names if not self._primitive(name)
        }
        first = parts[0]
        self.problem_example = f'{{"task": "{first.name}", {first.problem_example[1:]}'

    def image_bank(self, env: int) -> np.ndarray:
        """The image bank of environment `env` (one that shows images)."""
        for task in self.parts.values():
            if self._env[task.name] == env and hasattr(task, "image_bank"):
                return task.image_bank()
        raise ValueError(f"environment {env} of {self.name} shows no images")

    def with_part(self, task: Task) -> MultiTask:
        """The same task set with one part replaced by a view of it (such as cars on unseen models)."""
        parts = [task if t.name == task.name else t for t in self.parts.values()]
        return MultiTask(self.name, parts, sample_from=self.sample_from)

    def only(self, *tasks: str) -> MultiTask:
        """The same task set, sampling problems of the given tasks only (for per-task evaluation)."""
        for task in tasks:
            if task not in self.parts:
                raise ValueError(f"{self.name} has no task {task!r}; its tasks: {', '.join(self.parts)}")
        return MultiTask(self.name, list(self.parts.values()), sample_from=tasks)

    def part(self, problem: dict) -> Task:
        """The task a (parsed) problem belongs to."""
        return self.parts[problem["task"]]

    def _primitive(self, name: str) -> bool:
        return self.programs[name].primitive

    def _dispatch(self, program: str):
        def oracle(rec: Any, args: Args) -> Calls:
            return self.parts[rec.problem["task"]].oracle[program](rec, args)

        return oracle

    def parse(self, problem: Any) -> dict:
        name = problem.get("task") if isinstance(problem, dict) else None
        if not isinstance(name, str) or name not in self.parts:
            raise ValueError(
                f"a {self.name} problem names its task, one of {', '.join(self.parts)}: "
                f"{self.problem_example}"
            )
        body = {k: v for k, v in problem.items() if k != "task"}
        return {"task": problem["task"], **self.part(problem).parse(body)}

    def sample(self, rng: np.random.Generator, size: int) -> dict:
        name = self.sample_from[int(rng.integers(len(self.sample_from)))]
        return {"task": name, **self.parts[name].sample(rng, size)}

    def size(self, problem: dict) -> int:
        return self.part(problem).size(problem)

    def machine(self, problems: list[dict]) -> MixedMachine:
        return MixedMachine(self.parts, problems, len(self.obs_sizes))

    def expected(self, problem: dict) -> Any:
        return self.part(problem).expected(problem)

    def step_budget(self, problem: dict) -> int:
        return self.part(problem).step_budget(problem)

    def depth_budget(self, problem: dict) -> int:
        return self.part(problem).depth_budget(problem)

    def describe_action(self, args: tuple[int, ...]) -> str:
        return f"ACT {tuple(args)}"

    def verification_problems(self) -> list[dict]:
        raise ValueError("a multitask model has no verification set (its tasks' programs loop)")

    def env_index(self, problem: dict) -> int:
        return self._env[problem["task"]]

    def root_of(self, problem: dict) -> str:
        return self.part(problem).root
