"""Named experiments: every default of a training run, in one place.

A preset is a frozen dataclass of three parts (data, model sizes, training). `neuralprog train PRESET`
runs one; `--set train.lr=3e-4` style overrides change single fields without editing code. NPI presets
are `Preset`s; the seq2seq baseline's are `Seq2SeqPreset`s, trained on the same problems as their NPI
counterparts (same data section, same seed) but from input/output pairs only.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DataConfig:
    """Which oracle traces to train on."""

    sizes: tuple[int, ...] = tuple(range(1, 21))
    """Problem sizes to draw traces at (addition: number of digits)."""
    per_size: int = 32
    """Traces per size (paper: 32 per length 1..20, 640 in all)."""
    per_task: tuple[tuple[str, int], ...] = ()
    """For a multitask: empty, per_size traces per size in all, each of a random task. Else traces of
    each task in turn, each task's drawn (and covered) on its own: per size, the number given here for
    the tasks it names, per_size for the others. Covering a mixed pool picks the task whose traces show
    the most new situations: cars, whose every image is new."""
    cover: int = 0
    """0: random problems. Else each size's traces are picked greedily from a pool of this many random
    candidates, each pick the one whose call frames start from the most situations the set lacks (how a
    100-trace set comes to hold nearly every digit pair)."""


@dataclass(frozen=True)
class ModelSizes:
    """NPI sizes the task does not fix (see `neuralprog.models.npi.NPIConfig`)."""

    state_size: int = 128
    """Encoder output size."""
    program_size: int = 64
    """Program embedding size."""
    key_size: int = 16
    """Program key size."""
    mlp_size: int = 256
    """Width of the MLP between encoder and LSTM."""
    hidden_size: int = 256
    """LSTM units per layer."""
    layers: int = 2
    """LSTM layers."""
    layer_norm: bool = False
    """LayerNorm in the core MLP (not in the paper; see `NPIConfig.layer_norm`)."""
    program_to_heads: bool = False
    """Heads read the program embedding besides the LSTM output (not in the paper; for `extend`)."""
    field_dropout: float = 0.0
    """In training, each observation field hidden with this probability per step (not in the paper; see
    `NPIConfig.field_dropout`)."""


@dataclass(frozen=True)
class TrainConfig:
    """How to train on the traces."""

    updates: int = 2000
    """Maximum number of optimizer updates."""
    batch_frames: int = 256
    """Call frames per update (each frame is an independent sequence)."""
    lr: float = 1e-3
    """Adam learning rate (the paper's 1e-4 is tuned for batch size 1)."""
    image_lr: float = 3e-4
    """Adam learning rate of a CNN image encoder (cars), lower than `lr`: at the core's rate its features
    changed so fast that the core learned nothing; decays and drops scale it with `lr`."""
    lr_decay: float = 1.0
    """Multiply the learning rate by this every `lr_decay_every` updates (paper: 0.95 per 10k steps)."""
    lr_decay_every: int = 100
    """Updates between those decays."""
    lr_drop: float = 0.5
    """Multiply the learning rate by this after every evaluation whose step accuracy is below the best so
    far: learning the digit table see-saws at a high rate (the paper decays by 0.95 per 10k steps)."""
    lr_min: float = 1e-5
    """`lr_drop` never takes the learning rate below this: a rate halved at every dip stops training
    (sort-recursive's fell to 4e-6 by update 1,000 and froze)."""
    weight_decay: float = 0.0
    """Decoupled weight decay (AdamW) of every weight but the program memory (see
    `supervised.parameter_groups`); it pushes a small model toward rules that hold across situations it
    was not trained on."""
    weight_decay_traces: int = 0
    """When > 0, `weight_decay` is the rate for this many training traces, and n traces get
    weight_decay x sqrt(weight_decay_traces / n): the more data, the less a prior needs to hold the
    network (Loshchilov & Hutter's normalized weight decay, which scales with the inverse square root
    of the training set's size). 0: `weight_decay` whatever the data."""
    grad_clip: float = 1.0
    """Clip the global gradient norm to this value."""
    curriculum: bool = True
    """Adaptive curriculum: draw frames by a softmax over each program's current error (paper, Sec. 4)."""
    curriculum_temperature: float = 0.05
    """Temperature of that softmax over per-program step error rates."""
    curriculum_hard_fraction: float = 0.25
    """Share of each program's frames drawn from the frames the last evaluation got wrong."""
    curriculum_by_steps: bool = False
    """The softmax splits a batch's steps between programs, not its frames: a program whose frames are
    long (addition's ADD, 23 steps on average, against ADD1's 2.4) gets fewer of them. Off, ADD filled
    half of an addition batch's steps even once learned (two thirds before), and the update's cost is
    in its steps."""
    eval_every: int = 50
    """Updates between evaluations (teacher-forced accuracy on every training frame, validation runs)."""
    eval_share: float = 1.0
    """Share of each program's distinct frames that an evaluation runs, drawn afresh each time, with the
    frames the last evaluation found wrong; when they are all right, every frame is run, as stopping
    needs. The sampled step accuracy is what a dip (`lr_drop`) is judged on. Sort's 33,389 distinct
    frames (372,778 steps) took 6.5 s to run at 2 threads, as long as 50 updates."""
    validation_problems: int = 32
    """Problems of the largest training size run through the interpreter at the evaluations that can
    stop training (see stop_after_perfect)."""
    stop_after_perfect: int = 2
    """Stop early at the evaluation that makes this many in a row with every training step right, if
    every validation problem is right then; the validation problems run only at such evaluations (and
    at the last update), since they cost more than the rest of an evaluation (0: never stop early)."""
    repair_traces: int = 0
    """Counterexample-guided training, for tasks with a verification set (`neuralprog verify`): when
    training stops early (perfect on its data, see stop_after_perfect), verify the model; while it
    differs from the oracle, add the shortest verification problems that show the differences (at most
    this many traces in all, none longer than the training problems) and train on. A round also ends
    when every training step has been right for three times stop_after_perfect evaluations in a row
    while some validation problem stays wrong: the traces then lack a situation that verification
    finds. 0: off."""
    repair_per_round: int = 5
    """Counterexamples added per verification round (a few at a time, so later rounds see what the
    earlier ones fixed)."""
    checkpoint_every: int = 100
    """Updates between checkpoints (a crash loses at most this many)."""
    seed: int = 0
    """Seed of the traces, the initial weights and the batch order."""


@dataclass(frozen=True)
class Preset:
    name: str
    task: str
    description: str
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelSizes = field(default_factory=ModelSizes)
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass(frozen=True)
class Seq2SeqSizes:
    """Seq2seq baseline sizes (see `neuralprog.models.baselines.Seq2SeqConfig`; the codec fixes the
    vocabulary)."""

    hidden_size: int = 256
    """LSTM units per layer, in the encoder and in the decoder (paper: 256)."""
    layers: int = 2
    """LSTM layers of the encoder and of the decoder (paper: 2)."""
    embedding_size: int = 64
    """Size of a token embedding, shared by encoder and decoder."""


@dataclass(frozen=True)
class Seq2SeqTrainConfig:
    """Supervised training of the seq2seq baseline on input/output pairs."""

    updates: int = 3000
    """Maximum number of optimizer updates (training stops earlier once it is perfect)."""
    batch_size: int = 64
    """Problems per update, drawn without replacement (all of them when there are fewer)."""
    lr: float = 1e-3
    """Adam learning rate."""
    grad_clip: float = 1.0
    """Maximum global gradient norm."""
    eval_every: int = 100
    """Updates between two exact-match evaluations of every training problem (greedy decoding)."""
    seed: int = 0
    """Seeds the problems (as NPI's traces), the initial weights and the order of the batches."""


@dataclass(frozen=True)
class Seq2SeqPreset:
    """A seq2seq baseline run (`neuralprog.train.seq2seq.train_preset`)."""

    name: str
    """What `neuralprog train` calls it."""
    task: str
    """The task whose problems it learns (one with a seq2seq codec: addition or sort)."""
    description: str
    """One line for listings."""
    data: DataConfig = field(default_factory=DataConfig)
    """Which problems to train on; drawn exactly as NPI's trainer draws its traces' problems (`cover`
    must stay 0: it picks traces by their steps)."""
    model: Seq2SeqSizes = field(default_factory=Seq2SeqSizes)
    """Model sizes."""
    train: Seq2SeqTrainConfig = field(default_factory=Seq2SeqTrainConfig)
    """How to train."""


@dataclass(frozen=True)
class RLNTMSizes:
    """RL-NTM controller shape (see `neuralprog.models.rlntm.RLNTMConfig`; the task sets the rest)."""

    controller: str = "direct"
    """"direct" (LSTM with direct-access paths), "lstm" or "feedforward"."""
    hidden_size: int = 25
    """Controller units (authors: 25)."""
    cell_size: int = 35
    """Reals per memory cell (paper: 35)."""
    window: int = 2
    """Cells read on each side of a head (authors: 2)."""
    inverse_temperature: float = 0.01
    """Multiplies the head-move logits (paper: 0.01)."""
    init_std: float = 0.1
    """Gaussian initialization of every weight (paper: 0.1)."""
    baseline_hidden: int = 25
    """Units of the offline baseline LSTM."""
    predict_from_state: bool = True
    """The controller state adds to the prediction logits (paper); off (direct access only), only the
    gated input symbol and memory cell do, plus a bias."""


@dataclass(frozen=True)
class RLNTMTrainConfig:
    """REINFORCE training of the RL-NTM (paper, Sec. 9 and appendix A)."""

    updates: int = 20000
    """Maximum number of updates (paper: a task is solved within 20,000 or never)."""
    batch_size: int = 200
    """Episodes per update (paper: 200, better than 50 or 20)."""
    lr: float = 0.05
    """SGD learning rate (paper: 0.05)."""
    momentum: float = 0.9
    """SGD momentum (paper: 0.9)."""
    clip_controller: float = 5.0
    """Gradient-norm clip of the controller (paper: 5)."""
    clip_baseline: float = 2.0
    """Gradient-norm clip of the baseline network (paper: 2)."""
    future_rewards: bool = True
    """Weight log p(a_t) by the rewards from t on, not the whole return (variance reduction 1)."""
    online_baseline: bool = True
    """Subtract a running mean of the future reward at each time step (variance reduction 2)."""
    offline_baseline: bool = True
    """Subtract the baseline LSTM's prediction (variance reduction 3)."""
    online_decay: float = 0.95
    """Weight of the old value in the online baseline's running mean."""
    entropy_bonus: float = 0.0
    """Weight of the head-move choices' entropy in the objective (not in the paper: 0): each step's
    entropy, differentiated at the states visited (the usual regularizer, not the exact gradient of the
    expected entropy). It keeps a policy exploring instead of turning deterministic in a local optimum."""
    curriculum: bool = True
    """The paper's curriculum over sizes (Table 3); off: every problem has the top size."""
    curriculum_start: int = 1
    """The curriculum's first level."""
    top_size: int = 0
    """The curriculum's top level and the size the solved check uses (0: the task's, 20 or 8)."""
    promote_below: float = 0.2
    """Go up a level when a batch's average 0-1 loss (per target symbol) is below this (paper: 0.2)."""
    refractory: int = 100
    """Updates between two level increases at least (paper: 100)."""
    eval_every: int = 100
    """Updates between checks of the solved criterion, once the curriculum is at its top."""
    solve_problems: int = 200
    """Random top-size problems run with greedy actions in that check."""
    solve_accuracy: float = 0.95
    """Share of them that must come out exactly right for the task to count as solved (training stops)."""
    checkpoint_every: int = 500
    """Updates between checkpoints (a crash loses at most this many)."""
    threads: int = 1
    """CPU threads of the trainer. With 2 or more, the offline baseline network (whose graph is
    separate from the controller's) runs in a process of its own (one thread) beside the controller's
    pass, and torch uses threads - 1 for each op of the trainer. One thread does not slow to a crawl
    when another process holds a core. A run repeats exactly only with the same thread count for the
    trainer's ops, so it is part of the config (1 and 2 give the same run: one thread each)."""
    seed: int = 0
    """Seed of the initial weights, the problems and the sampled actions."""


@dataclass(frozen=True)
class RLNTMPreset:
    """An RL-NTM run (`neuralprog.train.reinforce.train`)."""

    name: str
    """What `neuralprog train` calls it."""
    task: str
    """A tape task: copy, duplicated-input, reverse, repeat-copy or forward-reverse."""
    description: str
    """One line for listings."""
    model: RLNTMSizes = field(default_factory=RLNTMSizes)
    """Controller shape."""
    train: RLNTMTrainConfig = field(default_factory=RLNTMTrainConfig)
    """How to train."""


@dataclass(frozen=True)
class NTPData:
    """Training data of a Neural Task Programming preset (Xu et al. 2018)."""

    train_tasks: int = 1000
    """Block stacking: tasks trained on, the first N of the training pool (the paper: 50 to 1,000).
    Order fulfillment always trains on its 4 covering maps."""
    trials_per_task: int = 100
    """Trials (expert runs from random starts, each with a demonstration from another start) per task."""
    max_goals: int = 6
    """Block stacking: keep only tasks of at most this many goals (tests use small tasks)."""
    hierarchical: bool = True
    """Expert traces with the program hierarchy; False: the flat baseline's (the root calls the API)."""
    backend: str = "kinematic"
    """Where the expert's traces are recorded and validation runs: kinematic (exact, instant) or
    mujoco (physics: about 0.1 s of CPU per stacking trial; needs neuralprog[physics])."""


@dataclass(frozen=True)
class NTPSizes:
    """Widths of an NTP model and its variant (the paper's baselines)."""

    hidden_size: int = 128
    """Encoder, core, attention and interpreter width (the paper's FC(128))."""
    program_size: int = 64
    """Program embedding size."""
    key_size: int = 32
    """Program key size."""
    core: str = "feedforward"
    """feedforward (NTP, reactive) or gru (the GRU baselines)."""
    scoped: bool = True
    """Hand each callee the decoded scope; False: the whole specification (no scope, flat)."""
    tsi_layers: int = 4
    """Temporal convolution layers (kernel 3) of the specification interpreter."""


@dataclass(frozen=True)
class NTPTrainConfig:
    """How an NTP preset trains: Adam over batches of call frames drawn by the adaptive curriculum."""

    updates: int = 6000
    """Maximum number of updates (the learning rate's cosine decay spans them)."""
    batch_frames: int = 128
    """Call frames per update."""
    lr: float = 1e-3
    """Peak Adam learning rate."""
    warmup: int = 200
    """Updates of linear warm-up to the peak rate."""
    lr_final: float = 0.05
    """The rate decays along a cosine to this fraction of the peak by the last update."""
    grad_clip: float = 1.0
    """Gradient norm clip."""
    curriculum: bool = True
    """Draw frames by program in proportion to each program's step error (NPI's adaptive curriculum)."""
    augment: float = 0.5
    """Counterfactual observations (not in the paper; 0 turns them off): the chance that the first step
    of a sub-program call sees the gripper above another object (TabletopTask.relocate), and, in order
    fulfillment, that PICK and RELEASE see a finished category as a phantom object
    (OrderFulfillment.phantoms): what they must not depend on, but could from the training tasks
    alone."""
    eval_every: int = 500
    """Updates between validation runs (trials executed by the interpreter)."""
    validation_problems: int = 100
    """Validation trials per run (seen tasks, new starts)."""
    stop_after_perfect: int = 2
    """Stop after this many validation runs in a row that solve every trial; 0 never stops early."""
    checkpoint_every: int = 500
    """Updates between checkpoints."""
    threads: int = 2
    """Torch threads."""
    seed: int = 0
    """Seed of the trials, the initial weights and the batch order."""


@dataclass(frozen=True)
class NTPPreset:
    """A named NTP experiment: task, data, model variant, training."""

    name: str
    """Preset name."""
    task: str
    """block-stacking or order-fulfillment."""
    description: str
    """One line for `neuralprog train --help` and the README."""
    data: NTPData = field(default_factory=NTPData)
    """Training data."""
    model: NTPSizes = field(default_factory=NTPSizes)
    """Model variant."""
    train: NTPTrainConfig = field(default_factory=NTPTrainConfig)
    """How to train."""


_SMALL = ModelSizes(state_size=64, program_size=32, key_size=8, mlp_size=128, hidden_size=128)
"""Recursive frames are short and few: a 2 x 128 core is plenty, and halves the interpreter's saved
states at recursion depth 10,000."""

PRESETS: dict[str, Any] = {
    p.name: p
    for p in [
        Preset(
            "addition",
            "addition",
            "NPI addition as in the paper: 32 traces per length 1..20 (640), 2x256 LSTM core (with "
            "LayerNorm in its input MLP; batches split between programs by steps)",
            model=ModelSizes(layer_norm=True),
            train=TrainConfig(curriculum_by_steps=True),
        ),
        Preset(
            "addition-tiny",
            "addition",
            "a small NPI that learns addition in well under a minute (tests, quick experiments)",
            data=DataConfig(sizes=tuple(range(1, 11)), per_size=48),
            model=ModelSizes(
                state_size=64, program_size=16, key_size=8, mlp_size=128, hidden_size=128, layer_norm=True
            ),
            train=TrainConfig(
                updates=2500,
                batch_frames=128,
                lr_decay=0.9,
                lr_drop=1.0,
                checkpoint_every=50,
                validation_problems=16,
            ),
        ),
        Preset(
            "addition-recursive",
            "addition-recursive",
            "recursive NPI addition (Cai et al. 2017): ADD calls itself once per column; at most 200 "
            "traces of 1-3 digits (180 chosen to cover digit pairs, up to 20 counterexamples); verifiable",
            data=DataConfig(sizes=(1, 2, 3), per_size=60, cover=1000),
            model=dataclasses.replace(_SMALL, layer_norm=True),
            train=TrainConfig(
                updates=6000,
                batch_frames=128,
                lr_decay=0.95,
                # The default halving at every dip in step accuracy: without it ADD1's digit table
                # see-sawed between 91% and 99% of its frames for a thousand updates, and the first round
                # took 1,450 to 1,850 updates instead of 800 to 1,000 (5 seeds, 1 thread each). Floored
                # at 1e-4: at the default 1e-5 one seed's rate reached the floor by update 900 with 99.5%
                # of the steps right, and stayed there to the cap.
                lr_min=1e-4,
                validation_problems=16,
                repair_traces=20,
            ),
        ),
        Preset(
            "sort",
            "sort",
            "NPI bubble sort as in the paper: 64 traces per length 2..20 (1,216), 2x256 LSTM core (with "
            "LayerNorm in its input MLP; batches split between programs by steps, a tenth of the frames "
            "evaluated until those are all right, weight decay)",
            data=DataConfig(sizes=tuple(range(2, 21)), per_size=64),
            # Not model.field_dropout=0.25: with weight decay 0.5 it lifted the worst of 10 seeds from 8
            # arrays (72% to 99%), but on these 1,216 traces seed 0 took 1,400 updates to stop, not 500.
            model=ModelSizes(layer_norm=True),
            train=TrainConfig(
                updates=4000,
                eval_every=100,
                checkpoint_every=100,
                curriculum_by_steps=True,
                eval_share=0.1,
                # It goes on simplifying what 8 training arrays of 20 taught once every step is right:
                # with 0.5 (decaying the program memory too, as it did then) 7 of seeds 0-9 sorted every
                # fresh array, with 2.0 8; with 2.0 sparing the memory and 128 validation arrays, 10
                # (stopping after two all-right evaluations; 9 with one, below).
                # The preset's 1,216 traces need far less: 2.0 x sqrt(8 / 1,216) = 0.16.
                weight_decay=2.0,
                weight_decay_traces=8,
                # 32 arrays let a model that sorts 99% of arrays stop (from 8 arrays of 20, seed 2 at
                # update 300); with 128 it trained on to 500 and sorted all. The price: a validation of
                # a trained model takes 16.6 s instead of 9.0 (2 threads), longer while arrays fail.
                validation_problems=128,
                # Every training step right once, and 128 fresh arrays of 20 sorted then: a second
                # evaluation in a row cost 100 updates and a check of every frame, about 20 s a run.
                # From 8 arrays of 20 it let seed 8 of 0-9 stop at update 300 sorting 99%.
                stop_after_perfect=1,
            ),
        ),
        Preset(
            "sort-recursive",
            "sort-recursive",
            "recursive NPI bubble sort (Cai et al. 2017): at most 100 traces of length 1-4 (80 chosen to "
            "cover value pairs, up to 20 counterexamples); verifiable",
            data=DataConfig(sizes=(1, 2, 3, 4), per_size=20, cover=500),
            model=_SMALL,
            train=TrainConfig(
                updates=8000,
                batch_frames=256,
                lr_drop=1.0,  # halving at every dip in step accuracy took lr to 4e-6 by update 1,000
                validation_problems=16,
                # Verification is the real check, and each round waits for this many perfect evaluations:
                # 2 instead of 4 verified seed 0 in 1,150 updates instead of 2,100.
                stop_after_perfect=2,
                repair_traces=20,
            ),
        ),
        Preset(
            "cars",
            "cars",
            "NPI 3D car canonicalization: 64x64 renders of 80 seen car models, a CNN encoder trained with "
            "the core; 600 traces per trajectory length 1..10 (6,000)",
            data=DataConfig(sizes=tuple(range(1, 11)), per_size=600),
            train=TrainConfig(
                updates=3000,
                lr_decay=0.93,
                lr_drop=1.0,
                eval_every=100,
                validation_problems=64,
                stop_after_perfect=3,
            ),
        ),
        Preset(
            "multitask",
            "multitask",
            "one NPI for addition and sorting (paper, Table 1): shared core and program memory, an "
            "encoder per environment; 576 traces of sizes 2-10, each size's 64 chosen from 200 random "
            "problems of either task to cover situations",
            data=DataConfig(sizes=tuple(range(2, 11)), per_size=64, cover=200),
            model=ModelSizes(program_to_heads=True),
            train=TrainConfig(updates=4000, eval_every=100, validation_problems=64, stop_after_perfect=4),
        ),
        Preset(
            "multitask-cars",
            "multitask-cars",
            "one NPI for addition, sorting and car canonicalization (paper, Table 1): shared core and "
            "program memory, an encoder per environment (a CNN for the cars); per size 1..10, 64 traces "
            "of addition and of sorting chosen from 200 to cover situations, and 600 of cars",
            data=DataConfig(sizes=tuple(range(1, 11)), per_size=64, cover=200, per_task=(("cars", 600),)),
            model=ModelSizes(program_to_heads=True),
            train=TrainConfig(
                updates=6000,
                lr_decay=0.955,
                lr_drop=1.0,
                eval_every=200,
                validation_problems=64,
                stop_after_perfect=3,
            ),
        ),
    ]
}
# The seq2seq baseline, on the same problems as its NPI counterpart (same data section and seed).
PRESETS |= {
    p.name: p
    for p in [
        Seq2SeqPreset(
            "sort-seq2seq",
            "sort",
            "the paper's seq2seq baseline for sorting: an encoder-decoder 2x256 LSTM trained on the sort "
            "preset's 1,216 arrays (64 per length 2..20), without traces",
            data=DataConfig(sizes=tuple(range(2, 21)), per_size=64),
        ),
        Seq2SeqPreset(
            "addition-seq2seq",
            "addition",
            "the seq2seq baseline for addition: an encoder-decoder 2x256 LSTM trained on the addition "
            "preset's 640 sums (32 per length 1..20), digits least significant first, without traces",
        ),
    ]
}


# The RL-NTM (Zaremba & Sutskever 2015): the five tape tasks with the direct-access controller, and with
# the plain LSTM controller (which the paper found to solve only Copy and DuplicatedInput). With the
# paper's settings, RepeatCopy and ForwardReverse settle in an optimum that answers from the controller's
# state (see the README); their direct presets predict only through the direct paths, with a
# faster-learning policy kept exploring by an entropy bonus (none of the three is in the paper).
_TAPE_TASKS = {
    "copy": "Copy",
    "duplicated-input": "DuplicatedInput",
    "reverse": "Reverse",
    "repeat-copy": "RepeatCopy",
    "forward-reverse": "ForwardReverse (input head forward only, memory tape)",
}
for _task, _title in _TAPE_TASKS.items():
    for _controller, _suffix in (("direct", ""), ("lstm", "-lstm")):
        _name = f"rlntm-{_task}{_suffix}"
        _model, _train = RLNTMSizes(controller=_controller), RLNTMTrainConfig()
        if _name in ("rlntm-repeat-copy", "rlntm-forward-reverse"):
            _model = dataclasses.replace(_model, predict_from_state=False, inverse_temperature=0.1)
            _train = dataclasses.replace(_train, entropy_bonus=0.1)
        PRESETS[_name] = RLNTMPreset(
            _name,
            _task,
            f"RL-NTM {_title}, {'direct-access' if _controller == 'direct' else 'plain LSTM'} controller, "
            "REINFORCE with the paper's curriculum and three variance reductions",
            model=_model,
            train=_train,
        )
# Faster than the paper's settings (ours): each task's direct preset with four settings changed. The
# head-move logits are scaled by 0.1 instead of 0.01, so the policy learns ten times faster, and an
# entropy bonus of 0.1 keeps it exploring meanwhile (RepeatCopy and ForwardReverse have both already);
# SGD with momentum at twice the learning rate (0.1; RepeatCopy keeps 0.05, at 0.1 seed 0 stalled at
# its top level); a curriculum that may go up a level every 25 updates instead of 100, since a level
# the policy has learned is passed in a batch or two. Reverse, seeds 0-2: 800 updates each, against
# 10,200 to 12,500 with `rlntm-reverse`; benchmarks/results/training_speed.json has every task.
for _task, _title in _TAPE_TASKS.items():
    _base = PRESETS[f"rlntm-{_task}"]
    assert isinstance(_base, RLNTMPreset)
    PRESETS[f"rlntm-{_task}-fast"] = dataclasses.replace(
        _base,
        name=f"rlntm-{_task}-fast",
        description=f"RL-NTM {_title}, direct-access controller, REINFORCE with the curriculum and three "
        "variance reductions; head-move logits x0.1, an entropy bonus and a level at most every 25 "
        "updates (ours: several times fewer updates than the paper's settings)",
        model=dataclasses.replace(_base.model, inverse_temperature=0.1),
        train=dataclasses.replace(
            _base.train, lr=0.05 if _task == "repeat-copy" else 0.1, refractory=25, entropy_bonus=0.1
        ),
    )


# Neural Task Programming (Xu et al. 2018) and the paper's four baselines, for both tasks.
_NTP_VARIANTS = {
    "": ("NTP", NTPSizes(), True),
    "-noscope": ("NTP (no scope): every call gets the whole demonstration", NTPSizes(scoped=False), True),
    "-gru": ("NTP (GRU): a recurrent core", NTPSizes(core="gru"), True),
    "-flat": ("Flat: the root calls the API directly", NTPSizes(scoped=False), False),
    "-flat-gru": ("Flat (GRU): flat, recurrent core", NTPSizes(core="gru", scoped=False), False),
}
for _suffix, (_what, _sizes, _hierarchical) in _NTP_VARIANTS.items():
    PRESETS[f"ntp-stacking{_suffix}"] = NTPPreset(
        f"ntp-stacking{_suffix}",
        "block-stacking",
        f"{_what}; block stacking, 1,000 training tasks x 100 trials (the paper's largest)",
        data=NTPData(hierarchical=_hierarchical),
        model=_sizes,
        # Relocating the gripper in training slowed NTP's learning on block stacking (validation 37%
        # after 4,000 updates, against 96% after 2,000 without), and block stacking does without it.
        train=NTPTrainConfig(augment=0.0),
    )
    PRESETS[f"ntp-ordering{_suffix}"] = NTPPreset(
        f"ntp-ordering{_suffix}",
        "order-fulfillment",
        f"{_what}; order fulfillment, the 4 covering maps x 500 trials, one object per category",
        data=NTPData(trials_per_task=500, hierarchical=_hierarchical),
        model=_sizes,
        # Validation (one object per category, training maps) is perfect long before the model is
        # robust to more objects and to unseen maps: train the whole budget.
        train=NTPTrainConfig(stop_after_perfect=0),
    )


def register_preset(preset: Any) -> None:
    """Add a preset of your own (any frozen dataclass with name, task, description and sections that a
    model family trains; see `neuralprog.families`). A name already taken is refused."""
    validate(preset)
    if preset.name in PRESETS and PRESETS[preset.name] is not preset:
        raise ValueError(f"a preset named {preset.name!r} exists already")
    PRESETS[preset.name] = preset


def same_preset(saved: dict | None, chosen: Any) -> bool:
    """Whether a saved run's preset is `chosen`; a field the saved run's version did not have yet
    counts as that field's default (so runs made before an option was added are still reused), and the
    description, which trains nothing, is not compared."""
    if saved is None:
        return False
    filled = {**saved, "description": chosen.description}
    for f in dataclasses.fields(chosen):
        section = getattr(chosen, f.name)
        if dataclasses.is_dataclass(section) and isinstance(saved.get(f.name), dict):
            defaults = {
                g.name: g.default for g in dataclasses.fields(section) if g.default is not dataclasses.MISSING
            }
            filled[f.name] = {**json.loads(json.dumps(defaults)), **saved[f.name]}
    return filled == json.loads(json.dumps(dataclasses.asdict(chosen)))


def get_preset(name: str) -> Any:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; available presets: {', '.join(PRESETS)}")
    return PRESETS[name]


# Ranges of config values, by field name (the same name means the same thing in every section).
_AT_LEAST_1 = {
    "updates", "batch_frames", "per_size", "eval_every", "checkpoint_every", "lr_decay_every", "batch_size",
    "solve_problems", "threads", "state_size", "program_size", "key_size", "mlp_size", "hidden_size",
    "layers", "cell_size", "embedding_size", "baseline_hidden", "curriculum_start", "validation_problems",
    "repair_per_round", "train_tasks", "trials_per_task", "max_goals", "tsi_layers",
}  # fmt: skip
_AT_LEAST_0 = {
    "warmup",
    "cover",
    "stop_after_perfect",
    "repair_traces",
    "top_size",
    "window",
    "refractory",
    "seed",
}
_POSITIVE = {
    "lr", "grad_clip", "clip_controller", "clip_baseline", "curriculum_temperature", "init_std",
    "inverse_temperature",
}  # fmt: skip
_NON_NEGATIVE = {"weight_decay", "weight_decay_traces", "lr_min", "entropy_bonus"}
_FRACTION = {
    "field_dropout",
    "augment",
    "lr_final",
    "curriculum_hard_fraction",
    "promote_below",
    "solve_accuracy",
    "online_decay",
    "momentum",
}
_SCALE = {"lr_decay", "lr_drop", "eval_share"}  # in (0, 1]
_CHOICES = {"controller": ("direct", "lstm", "feedforward"), "core": ("feedforward", "gru")}


def validate(preset: Any) -> None:
    """Check every config value of a preset against its range; a ValueError names the first field out
    of range (`train.updates must be at least 1, got -5`)."""
    for section in dataclasses.fields(preset):
        part = getattr(preset, section.name)
        if not dataclasses.is_dataclass(part):
            continue
        for f in dataclasses.fields(part):
            problem = _out_of_range(f.name, getattr(part, f.name))
            if problem:
                raise ValueError(f"{section.name}.{f.name} {problem}")


def _out_of_range(name: str, value: Any) -> str | None:
    if name == "sizes":
        if not value or min(value) < 1:
            return f"must list sizes of at least 1, got {value!r}"
    elif name in _AT_LEAST_1 and value < 1:
        return f"must be at least 1, got {value!r}"
    elif name in _AT_LEAST_0 and value < 0:
        return f"must be at least 0, got {value!r}"
    elif name in _POSITIVE and not value > 0:
        return f"must be positive, got {value!r}"
    elif name in _NON_NEGATIVE and not value >= 0:
        return f"must be at least 0, got {value!r}"
    elif name in _FRACTION and not 0 <= value <= 1:
        return f"must be between 0 and 1, got {value!r}"
    elif name in _SCALE and not 0 < value <= 1:
        return f"must be in (0, 1], got {value!r}"
    elif name in _CHOICES and value not in _CHOICES[name]:
        return f"must be one of {', '.join(_CHOICES[name])}, got {value!r}"
    return None


def override(preset: Any, assignments: list[str]) -> Any:
    """Apply 'section.field=value' assignments, e.g. 'train.lr=3e-4' or 'data.sizes=1,2,3'."""
    for assignment in assignments:
        key, sep, text = assignment.partition("=")
        section, dot, name = key.partition(".")
        sections = [f.name for f in dataclasses.fields(preset) if f.name in ("data", "model", "train")]
        if not sep or not dot or section not in sections:
            raise ValueError(
                f"bad override {assignment!r}; use SECTION.FIELD=VALUE with SECTION {', '.join(sections)}"
            )
        part = getattr(preset, section)
        fields = {f.name: f for f in dataclasses.fields(part)}
        if name not in fields:
            raise ValueError(f"{section} has no field {name!r}; fields: {', '.join(fields)}")
        current = getattr(part, name)
        try:
            value = _parse_like(current, text)
        except ValueError:
            raise ValueError(f"bad value {text!r} for {key} (a {type(current).__name__})") from None
        preset = dataclasses.replace(preset, **{section: dataclasses.replace(part, **{name: value})})
    validate(preset)
    return preset


def _parse_like(current: object, text: str) -> object:
    if isinstance(current, bool):
        if text.lower() not in ("true", "false", "1", "0"):
            raise ValueError(text)
        return text.lower() in ("true", "1")
    if isinstance(current, tuple):
        if ":" in text:
            lo, hi = text.split(":")
            return tuple(range(int(lo), int(hi) + 1))
        return tuple(int(x) for x in text.split(","))
    if isinstance(current, int):
        return int(text)
    if isinstance(current, float):
        return float(text)
    return text
