"""Environments, one module per family, each with its task and oracle beside it.

Importing this package registers the Gymnasium ids below (the Gymnasium convention); the entry points
are strings, so registering imports no environment module. Tasks are listed in `neuralprog.registry`.
"""

import gymnasium as gym

REWARD_THRESHOLDS = {
    "Copy": 25.0,
    "DuplicatedInput": 9.0,
    "Reverse": 25.0,
    "RepeatCopy": 75.0,
    "ReversedAddition": 25.0,
    "ReversedAddition3": 25.0,
}
"""Gym's 'solved' average episode rewards, kept as the registered reward_threshold."""


_TAPES = {
    "neuralprog/Copy-v0": "copy",
    "neuralprog/DuplicatedInput-v0": "duplicated-input",
    "neuralprog/Reverse-v0": "reverse",
    "neuralprog/RepeatCopy-v0": "repeat-copy",
    "neuralprog/ForwardReverse-v0": "forward-reverse",
}
ENV_IDS: dict[str, tuple[str, dict]] = {
    "neuralprog/Addition-v0": ("neuralprog.envs.scratchpad:AdditionEnv", {}),
    "neuralprog/BubbleSort-v0": ("neuralprog.envs.sorting:BubbleSortEnv", {}),
    "neuralprog/Canonicalize-v0": ("neuralprog.envs.cars.canonicalize:CanonicalizeEnv", {}),
    **{env_id: ("neuralprog.envs.tapes:TapeEnv", {"task": task}) for env_id, task in _TAPES.items()},
    "neuralprog/BlockStacking-v0": ("neuralprog.envs.tabletop.env:TabletopEnv", {"task": "block-stacking"}),
    "neuralprog/OrderFulfillment-v0": (
        "neuralprog.envs.tabletop.env:TabletopEnv",
        {"task": "order-fulfillment"},
    ),
    **{
        f"neuralprog/gym-{name}-v0": ("neuralprog.envs.algorithmic:AlgorithmicEnv", {"task": name})
        for name in REWARD_THRESHOLDS
    },
}
"""Every Gymnasium id of the library: (entry point, keyword arguments)."""

for _env_id, (_entry_point, _kwargs) in ENV_IDS.items():
    if _env_id not in gym.registry:
        _name = _kwargs.get("task", "")
        gym.register(
            id=_env_id,
            entry_point=_entry_point,
            kwargs=_kwargs,
            reward_threshold=REWARD_THRESHOLDS.get(_name),
        )
