"""DynamicBatcher: batch size bound, wait bound, timing in simulated time, one-row mode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import simpy
from hypothesis import given
from hypothesis import strategies as st

from sim.agents.population import sample_borrowers
from sim.config.model import ModelConfig, PopulationConfig
from sim.model import ensure_model
from sim.model.batcher import DynamicBatcher
from sim.model.serving import PDScorer

POP = PopulationConfig()
CFG = ModelConfig(algorithm="logistic", train_size=5_000)
ROWS = sample_borrowers(POP, np.random.default_rng(42), 400).features


@pytest.fixture(scope="module")
def scorer(tmp_path_factory: pytest.TempPathFactory) -> PDScorer:
    h = ensure_model((POP, CFG), tmp_path_factory.mktemp("models"))
    return PDScorer(h.path, expected_sha256=h.sha256)


class _Recorder:
    """Wraps a scorer, recording every batch's row count."""

    def __init__(self, inner: PDScorer) -> None:
        self.inner = inner
        self.sizes: list[int] = []
        self.n_features = inner.n_features

    def score(self, x: np.ndarray) -> np.ndarray:
        self.sizes.append(int(x.shape[0]))
        return self.inner.score(x)


def _run(scorer, arrivals_s, max_batch_size, delay_ms, fixed_ms=2.0, per_row_ms=0.1):
    env = simpy.Environment()
    rec = _Recorder(scorer)
    b = DynamicBatcher(env, rec, max_batch_size, delay_ms, lambda n: fixed_ms + per_row_ms * n)
    results: list[tuple[int, float, float, tuple]] = []

    def client(i: int, t: float):
        yield env.timeout(t)
        ev, k = b.submit(ROWS[i])
        value = (yield ev)[k]
        results.append((i, t, env.now, value))

    for i, t in enumerate(arrivals_s):
        env.process(client(i, t))
    env.run()
    return b, rec, sorted(results)


@given(
    st.lists(st.floats(0.0, 0.5, allow_nan=False), min_size=1, max_size=120),
    st.integers(1, 16),
    st.sampled_from([0.0, 1.0, 5.0, 20.0, 100.0]),
)
def test_batches_bounded_and_waits_bounded(scorer, arrivals, max_size, delay_ms) -> None:
    b, rec, results = _run(scorer, arrivals, max_size, delay_ms)
    assert len(results) == len(arrivals)
    assert max(rec.sizes) <= max_size
    assert sum(rec.sizes) == len(arrivals)
    for _i, t_in, t_out, (pd, wait_ms, infer_ms, n) in results:
        assert 1 <= n <= max_size
        assert -1e-9 <= wait_ms <= delay_ms + 1e-6
        assert infer_ms == pytest.approx(2.0 + 0.1 * n)
        # the answer arrives after its wait and its batch's inference, no later
        assert t_out == pytest.approx(t_in + (wait_ms + infer_ms) / 1000.0, abs=1e-9)
        assert 0.0 < pd < 1.0
    st_ = b.stats()
    assert st_["batches"] == len(rec.sizes) and st_["requests"] == len(arrivals)
    assert st_["wait_ms_max"] <= delay_ms + 1e-6


def test_scores_equal_one_row_scoring(scorer) -> None:
    arrivals = np.linspace(0.0, 0.05, 50)
    _, _, results = _run(scorer, arrivals, 16, 20.0)
    direct = scorer.score(ROWS[:50])
    got = np.array([v[0] for _, _, _, v in results])
    np.testing.assert_allclose(got, direct, atol=1e-7)


def test_one_row_mode_has_no_wait(scorer) -> None:
    arrivals = [0.0, 0.0, 0.001, 0.002, 0.5]
    b, rec, results = _run(scorer, arrivals, 1, 20.0)
    assert rec.sizes == [1] * 5
    assert all(v[1] == 0.0 and v[3] == 1 for *_, v in results)
    assert b.stats()["mean_batch_size"] == 1.0


def test_full_batch_dispatches_at_once_and_timer_flushes_the_rest(scorer) -> None:
    arrivals = [0.0] * 10  # 10 simultaneous requests, batches of 4, 20 ms delay
    _, rec, results = _run(scorer, arrivals, 4, 20.0)
    assert rec.sizes == [4, 4, 2]
    waits = sorted(v[1] for *_, v in results)
    assert waits[:8] == [0.0] * 8  # two full batches go immediately
    assert waits[8:] == pytest.approx([20.0, 20.0])  # the remainder waits for the timer


def test_requests_within_the_delay_share_a_batch(scorer) -> None:
    arrivals = [0.0, 0.005, 0.019, 0.021, 0.030]
    _, rec, results = _run(scorer, arrivals, 64, 20.0)
    assert rec.sizes == [3, 2]
    waits = [v[1] for *_, v in results]
    assert waits == pytest.approx([20.0, 15.0, 1.0, 20.0, 11.0])


def test_bad_parameters(scorer) -> None:
    env = simpy.Environment()
    with pytest.raises(ValueError, match="max_batch_size=0"):
        DynamicBatcher(env, scorer, 0, 1.0, lambda n: 1.0)
    with pytest.raises(ValueError, match="max_batch_delay_ms=-1"):
        DynamicBatcher(env, scorer, 4, -1.0, lambda n: 1.0)


def test_flush_dispatches_the_open_batch(scorer, tmp_path: Path) -> None:
    env = simpy.Environment()
    b = DynamicBatcher(env, scorer, 8, 1000.0, lambda n: 1.0)
    ev, k = b.submit(ROWS[0])
    assert b.pending == 1 and k == 0
    b.flush()
    assert b.pending == 0
    env.run(until=0.01)
    assert ev.processed and ev.value[k][3] == 1 and ev.value[k][1] == 0.0


def test_score_rows_equals_score_bit_for_bit(scorer) -> None:
    x = np.ascontiguousarray(ROWS[:37], dtype=np.float32)
    for n in (1, 2, 37):
        np.testing.assert_array_equal(scorer.score_rows(x[:n]), scorer.score(ROWS[:n]))
    # one row at a time gives the same PD as in a batch (the batcher's batch size ~1 case)
    one = np.array([scorer.score_rows(x[i : i + 1])[0] for i in range(37)])
    np.testing.assert_allclose(one, scorer.score(x), atol=1e-7)
    assert not scorer._feed  # the caller's rows are not kept alive


def test_batcher_scores_through_score_rows_with_the_same_pds(scorer) -> None:
    env = simpy.Environment()
    b = DynamicBatcher(env, scorer, 3, 5.0, lambda n: 1.0)
    got: dict[int, float] = {}

    def client(i: int, t: float):
        yield env.timeout(t)
        ev, k = b.submit(ROWS[i])
        got[i] = (yield ev)[k][0]

    for i in range(20):
        env.process(client(i, 0.002 * i))
    env.run()
    direct = scorer.score(ROWS[:20])
    np.testing.assert_allclose([got[i] for i in range(20)], direct, atol=1e-7)
    assert b.stats()["batches"] < 20  # rows were really batched


def test_a_batch_shares_one_event_and_indexes_its_requests(scorer) -> None:
    env = simpy.Environment()
    b = DynamicBatcher(env, scorer, 8, 10.0, lambda n: 1.0)
    handles = [b.submit(ROWS[i]) for i in range(5)]
    assert len({id(ev) for ev, _ in handles}) == 1  # one event wakes the whole batch
    assert [k for _, k in handles] == [0, 1, 2, 3, 4]
    env.run()
    ev = handles[0][0]
    assert len(ev.value) == 5 and env.now == pytest.approx(0.011)
    np.testing.assert_allclose([ev.value[k][0] for _, k in handles], scorer.score(ROWS[:5]))
    # the next request opens a new batch with a new event
    ev2, k2 = b.submit(ROWS[5])
    assert ev2 is not ev and k2 == 0
