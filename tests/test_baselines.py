import time

import numpy as np
import pytest
import torch

from neuralprog.models.baselines import Seq2Seq, Seq2SeqConfig
from neuralprog.train.seq2seq import (
    BOS,
    EOS,
    PAD,
    PLUS,
    VOCAB_SIZE,
    Seq2SeqTrainConfig,
    decode,
    encode,
    evaluate_seq2seq,
    expected,
    sample_problems,
    train_seq2seq,
)
from neuralprog.train.supervised import TrainingError

SMALL = Seq2SeqConfig(VOCAB_SIZE, hidden_size=64, layers=1)


def _quiet(**kw):
    return {"log": lambda _: None, **kw}


def _sort_problems(n_per_length: int, lengths=(3, 4, 5), seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [p for n in lengths for p in sample_problems("sort", rng, n, n_per_length)]


def _batch(task_name: str, problems: list[dict]) -> tuple[torch.Tensor, torch.Tensor]:
    rows = [encode(task_name, p)[0] for p in problems]
    width = max(len(r) for r in rows)
    return torch.tensor([r + [PAD] * (width - len(r)) for r in rows]), torch.tensor([len(r) for r in rows])


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """These models are as fast on one thread, and two threads run ten times slower when the other core
    is busy (another test process, a build)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trained_sort(one_thread):
    """A small seq2seq trained on sort arrays of length 3-5, shared by the tests that need a trained model."""
    problems = _sort_problems(100)
    started = time.perf_counter()
    config = Seq2SeqTrainConfig(updates=1500, eval_every=50)
    model = train_seq2seq("sort", problems, config, SMALL, **_quiet())
    return model, problems, time.perf_counter() - started


def test_addition_codec():
    src, tgt = encode("addition", {"a": "96", "b": "25"})
    assert src == [6, 9, PLUS, 5, 2]  # least significant digit first
    assert tgt == [1, 2, 1, EOS]
    assert decode("addition", tgt) == "121"
    rng = np.random.default_rng(0)
    problems = [{"a": "0", "b": "0"}, {"a": "999", "b": "1"}, {"a": "007", "b": "5"}]
    problems += [p for size in (1, 2, 7, 20) for p in sample_problems("addition", rng, size, 20)]
    for p in problems:
        assert decode("addition", encode("addition", p)[1]) == expected("addition", p)


def test_sort_codec():
    assert encode("sort", {"array": [3, 1, 2, 1]}) == ([3, 1, 2, 1], [1, 1, 2, 3, EOS])
    rng = np.random.default_rng(0)
    for p in sample_problems("sort", rng, 20, 50):
        assert decode("sort", encode("sort", p)[1]) == sorted(p["array"])
        assert len(p["array"]) == 20


def test_decode_rejects_malformed_outputs_and_encode_malformed_problems():
    assert decode("sort", [1, 2, 3]) is None  # never ended
    assert decode("sort", [1, PLUS, 3, EOS]) is None
    assert decode("sort", [1, 2, EOS, 7, PAD]) == [1, 2]
    assert decode("addition", torch.tensor([3, 0, EOS, PAD])) == "03"
    with pytest.raises(ValueError, match="digits 0-9"):
        encode("sort", {"array": [1, 12]})
    with pytest.raises(ValueError, match="sort problem"):
        encode("sort", {"array": []})
    with pytest.raises(ValueError):
        encode("addition", {"a": "12"})
    with pytest.raises(ValueError, match="no seq2seq codec"):
        encode("juggling", {})


def test_small_seq2seq_learns_to_sort(trained_sort):
    model, problems, seconds = trained_sort
    assert seconds < 20
    assert np.mean(evaluate_seq2seq(model, "sort", problems)) >= 0.9
    fresh = _sort_problems(50, seed=9)  # arrays it has not seen, of the same lengths
    assert np.mean(evaluate_seq2seq(model, "sort", fresh)) >= 0.8


def test_batched_greedy_decoding_equals_one_at_a_time(trained_sort):
    model, _, _ = trained_sort
    problems = _sort_problems(4, lengths=(2, 3, 4, 5, 6, 7), seed=1)
    src, lengths = _batch("sort", problems)
    batched = model.greedy_decode(src, lengths, max_len=12)
    assert (batched == EOS).any(1).all()  # rows end at different steps, then pad
    for row, p in enumerate(problems):
        alone_src, alone_lengths = _batch("sort", [p])
        alone = model.greedy_decode(alone_src, alone_lengths, max_len=12)[0]
        assert batched[row, : len(alone)].tolist() == alone.tolist()
        assert (batched[row, len(alone) :] == PAD).all()


def test_padding_does_not_leak_into_the_encoder():
    """A short example gives the same encoder state and output alone and beside longer examples."""
    torch.manual_seed(0)
    model = Seq2Seq(Seq2SeqConfig(VOCAB_SIZE, hidden_size=32, layers=2, embedding_size=16)).eval()
    short = {"a": "7", "b": "45"}
    batch = [{"a": "123456789", "b": "98765"}, short, {"a": "5" * 20, "b": "1"}]
    src, lengths = _batch("addition", batch)
    alone_src, alone_lengths = _batch("addition", [short])
    assert src.shape[1] > alone_src.shape[1]
    with torch.no_grad():
        h, c = model.encode(src, lengths)
        h1, c1 = model.encode(alone_src, alone_lengths)
        torch.testing.assert_close(h[:, 1:2], h1, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(c[:, 1:2], c1, atol=1e-6, rtol=1e-5)
        tgt_in = torch.tensor([[BOS, 1, 2, 3]])
        logits = model(src, lengths, tgt_in.expand(3, -1))
        torch.testing.assert_close(logits[1:2], model(alone_src, alone_lengths, tgt_in), atol=1e-6, rtol=1e-5)
    alone = model.greedy_decode(alone_src, alone_lengths, max_len=8)[0]
    assert model.greedy_decode(src, lengths, max_len=8)[1, : len(alone)].tolist() == alone.tolist()


def test_a_model_that_never_ends_is_cut_off_and_wrong():
    torch.manual_seed(0)
    model = Seq2Seq(SMALL)
    with torch.no_grad():
        model.output.bias[3] = 100.0  # always says 3, never EOS
    src, lengths = _batch("sort", [{"array": [3, 3]}])
    assert model.greedy_decode(src, lengths, max_len=6).tolist() == [[3] * 6]
    assert evaluate_seq2seq(model, "sort", [{"array": [3, 3]}, {"array": [1]}]) == [False, False]


def test_same_seed_same_weights():
    problems = _sort_problems(10)
    config = Seq2SeqTrainConfig(updates=20, batch_size=8, eval_every=10)
    a = train_seq2seq("sort", problems, config, SMALL, **_quiet()).state_dict()
    b = train_seq2seq("sort", problems, config, SMALL, **_quiet()).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    other = Seq2SeqTrainConfig(updates=20, batch_size=8, eval_every=10, seed=1)
    c = train_seq2seq("sort", problems, other, SMALL, **_quiet()).state_dict()
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_non_finite_loss_stops_training():
    config = Seq2SeqTrainConfig(updates=5, lr=float("inf"), grad_clip=float("inf"))
    with pytest.raises(TrainingError, match="non-finite loss"):
        train_seq2seq("addition", [{"a": "12", "b": "34"}], config, SMALL, **_quiet())
