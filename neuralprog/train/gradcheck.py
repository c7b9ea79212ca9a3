"""The exact gradient checker for REINFORCE (Zaremba & Sutskever 2015, Sec. 5).

Shrink a task until every action sequence that ends an episode can be listed (one symbol, a step bound
of target length + 1: a few hundred to a few thousand sequences). Replace the sampler by a chooser
that branches every episode into all of its allowed actions at every step, so one rollout holds each
terminating sequence exactly once, as one row. Then, in float64:

    J      = sum over sequences of p(sequence) * sum_t r_t                      (the exact objective)
    grad   = sum over sequences of p(sequence) * grad surrogate(sequence)      (the estimator's mean)

where `surrogate` is the very function training differentiates, with all three variance reductions on
(future rewards, an online baseline, the offline baseline network). The estimator is unbiased exactly
when `grad` equals the gradient of J, which is compared with central finite differences of J along
random directions: one in each parameter tensor and one in all of them. A deliberately wrong estimator
(`wrong_action_log_probs`: the log-probability of not taking the sampled action) must fail.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch

from neuralprog.envs.tapes import TapeBatch, TapeTask
from neuralprog.models.rlntm import RLNTM, Baseline, Episodes, RLNTMConfig, Scores, choices, rollout, score
from neuralprog.train.reinforce import returns, surrogate

TOLERANCE = 1e-6
"""Largest relative difference between the estimator's mean and finite differences that passes."""
EPSILON = 1e-4
"""Finite-difference step along a unit direction."""
CONTROLLERS = {
    "lstm": RLNTMConfig(controller="lstm"),
    "direct": RLNTMConfig(controller="direct"),
    "direct-routed": RLNTMConfig(controller="direct", predict_from_state=False),
    "feedforward": RLNTMConfig(controller="feedforward"),
}
"""The controllers the checker covers, by name; "direct-routed" predicts only through the direct paths."""
_COMBOS = torch.tensor(list(itertools.product(range(3), range(3), range(2))))  # (18, 3) joint actions


def enumerate_actions(logits: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The enumerating chooser: every row branches into one row per allowed joint action."""
    allowed = torch.isfinite(logits)  # (B, 3, 3)
    combos = _COMBOS.to(logits.device)
    ok = allowed[:, 0, combos[:, 0]] & allowed[:, 1, combos[:, 1]] & allowed[:, 2, combos[:, 2]]  # (B, 18)
    rows, k = ok.nonzero(as_tuple=True)
    return rows, combos[k]


def wrong_action_log_probs(episodes: Episodes, scores: Scores) -> torch.Tensor:
    """A wrong estimator for the checker to catch: log p(some other action) = log(1 - p(a_t))."""
    chosen = choices(scores.action_logits, episodes)
    p = torch.where(
        chosen, scores.log_probs(episodes).exp(), torch.full_like(chosen, 0.5, dtype=torch.float64)
    )
    return torch.where(chosen, torch.log1p(-p), torch.zeros_like(p)).sum(-1)


@dataclass
class CheckResult:
    controller: str
    sequences: int
    """Terminating action sequences enumerated (over all problems)."""
    total_probability: float
    """Sum of their probabilities over the problems; equals the number of problems when the enumeration
    is complete."""
    problems: int
    objective: float
    """Exact J (summed over the problems)."""
    worst_error: float
    """Largest relative difference over the directions."""
    directions: list[tuple[str, float, float]]
    """(direction, estimator's directional derivative, finite difference)."""

    @property
    def passed(self) -> bool:
        return self.worst_error < TOLERANCE and abs(self.total_probability - self.problems) < 1e-9


def check(
    task: TapeTask,
    config: RLNTMConfig,
    problems: list[dict],
    extra_steps: int = 1,
    seed: int = 0,
    log_probs: Callable[[Episodes, Scores], torch.Tensor] | None = None,
) -> CheckResult:
    """Check the REINFORCE gradient of a freshly initialized model (seeded) on `problems`, each run with
    a step bound of its target length + `extra_steps`. The head-move logits get inverse temperature 1:
    at training's 0.01 the REINFORCE part of the gradient is about a hundredth of the backprop part, and
    an error in it could hide under the tolerance."""
    config = replace(config, memory=task.memory, input_backward=task.input_backward, inverse_temperature=1.0)
    previous_dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        torch.manual_seed(seed)
        model = RLNTM(config)
        baseline_net = Baseline(config)
        for p in model.parameters():  # larger weights than training's init make every path matter
            torch.nn.init.normal_(p, std=0.5)
        if model.direct_scale is not None:  # and so do the direct paths into the prediction
            torch.nn.init.normal_(model.direct_scale, mean=2.0, std=0.5)
        rng = np.random.default_rng(seed)
        online = torch.from_numpy(rng.normal(size=64))  # an arbitrary online baseline per time step

        def play() -> tuple[Episodes, Scores]:
            tapes = TapeBatch.of(task, problems, window=config.window, cell_size=config.cell_size)
            tapes.bound = tapes.target_length + extra_steps
            episodes = rollout(model, tapes, enumerate_actions)
            return episodes, score(model, episodes)

        def objective() -> torch.Tensor:
            episodes, scores = play()
            logp = scores.log_probs(episodes).sum((0, 2))  # (N,) log p(sequence)
            return (logp.exp() * scores.rewards(episodes).sum(0)).sum()

        episodes, scores = play()
        probability = scores.log_probs(episodes).sum((0, 2)).exp()  # (N,)
        with torch.no_grad():
            baseline = online[: episodes.steps, None] + baseline_net(episodes)
        rewards = scores.rewards(episodes)
        logp = log_probs(episodes, scores) if log_probs else scores.log_probs(episodes).sum(-1)
        per_sequence = surrogate(rewards, logp, returns(rewards.detach(), True), baseline, episodes.live)
        estimate = (probability.detach() * per_sequence).sum()
        params = [p for p in model.parameters()]
        names = [n for n, _ in model.named_parameters()]
        found = torch.autograd.grad(estimate, params, allow_unused=True)
        grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, found, strict=True)]

        directions: list[tuple[str, float, float]] = []
        generator = torch.Generator().manual_seed(seed)
        plans = [(name, [i]) for i, name in enumerate(names)] + [("all", list(range(len(params))))]
        for name, which in plans:
            v = [
                torch.randn(p.shape, generator=generator) if i in which else torch.zeros_like(p)
                for i, p in enumerate(params)
            ]
            norm = torch.cat([x.flatten() for x in v]).norm()
            v = [x / norm for x in v]
            analytic = float(sum((g * x).sum() for g, x in zip(grads, v, strict=True)))
            values = {}
            with torch.no_grad():
                for k in (-2, -1, 1, 2):
                    for p, x in zip(params, v, strict=True):
                        p.add_(k * EPSILON * x)
                    values[k] = float(objective())
                    for p, x in zip(params, v, strict=True):
                        p.sub_(k * EPSILON * x)
            # Five-point central difference: error O(EPSILON^4), so EPSILON can stay above roundoff.
            numeric = (8 * (values[1] - values[-1]) - (values[2] - values[-2])) / (12 * EPSILON)
            directions.append((name, analytic, numeric))
        worst = max(_relative(a, f) for _, a, f in directions)
        return CheckResult(
            config.controller,
            sequences=len(probability),
            total_probability=float(probability.detach().sum()),
            problems=len(problems),
            objective=float(objective().detach()),
            worst_error=worst,
            directions=directions,
        )
    finally:
        torch.set_default_dtype(previous_dtype)


def _relative(analytic: float, numeric: float) -> float:
    scale = max(abs(analytic), abs(numeric))
    return 0.0 if scale < 1e-10 else abs(analytic - numeric) / scale
