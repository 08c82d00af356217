from __future__ import annotations

import pytest

from relx.data import sampler as sampler_module
from relx.data.sampler import LengthGroupedBatchSampler

LENGTHS = [(i * 7919) % 53 + 1 for i in range(203)]


def flat(batches: list[list[int]]) -> list[int]:
    return sorted(i for b in batches for i in b)


def spread(batches: list[list[int]]) -> float:
    """Mean (longest - shortest) length within a batch."""
    return sum(max(LENGTHS[i] for i in b) - min(LENGTHS[i] for i in b) for b in batches) / len(batches)


def test_training_batches_cover_every_index_once_and_group_lengths() -> None:
    s = LengthGroupedBatchSampler(LENGTHS, batch_size=8, shuffle=True, seed=1, mega_batches=4)
    batches = list(s)
    assert flat(batches) == list(range(len(LENGTHS))) and len(batches) == len(s)
    plain = list(LengthGroupedBatchSampler([0] * len(LENGTHS), batch_size=8, shuffle=True, seed=1))
    assert spread(batches) < spread(plain) / 2


def test_order_depends_only_on_seed_and_epoch() -> None:
    a = LengthGroupedBatchSampler(LENGTHS, 8, shuffle=True, seed=1)
    b = LengthGroupedBatchSampler(LENGTHS, 8, shuffle=True, seed=1)
    a.set_epoch(3)
    b.set_epoch(3)
    assert list(a) == list(b)
    b.set_epoch(4)
    assert list(a) != list(b)


def test_evaluation_is_sorted_and_complete() -> None:
    batches = list(LengthGroupedBatchSampler(LENGTHS, 16, shuffle=False))
    assert flat(batches) == list(range(len(LENGTHS)))
    firsts = [LENGTHS[b[0]] for b in batches]
    assert firsts == sorted(firsts, reverse=True)


@pytest.mark.parametrize("shuffle", [True, False])
def test_ddp_shards(monkeypatch: pytest.MonkeyPatch, shuffle: bool) -> None:
    shards = []
    for rank in range(3):
        monkeypatch.setattr(sampler_module, "_rank_and_world", lambda rank=rank: (rank, 3))
        s = LengthGroupedBatchSampler(LENGTHS, 8, shuffle=shuffle, seed=5)
        shards.append(list(s))
        assert len(shards[-1]) == len(s)
    union = [i for shard in shards for b in shard for i in b]
    if shuffle:  # same number of steps on every rank; padding repeats a few batches
        assert len({len(s) for s in shards}) == 1 and set(union) == set(range(len(LENGTHS)))
    else:  # evaluation: every example exactly once across ranks
        assert sorted(union) == list(range(len(LENGTHS)))


def test_small_evaluation_sets_still_give_every_rank_a_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []
    for rank in range(2):  # 4 documents, eval batch 8, 2 ranks: batches of 2, one per rank
        monkeypatch.setattr(sampler_module, "_rank_and_world", lambda rank=rank: (rank, 2))
        s = LengthGroupedBatchSampler([5, 9, 7, 3], batch_size=8, shuffle=False)
        batches = list(s)
        assert len(batches) == len(s) == 1
        seen += batches[0]
    assert sorted(seen) == [0, 1, 2, 3]


def test_a_resumed_epoch_skips_the_batches_already_trained_on_once() -> None:
    from relx.data.mixing import MixedBatchSampler

    lengths = [(i * 37) % 23 + 1 for i in range(100)]
    plain = LengthGroupedBatchSampler(lengths, 8, shuffle=True, seed=5)
    plain.set_epoch(2)
    whole = list(plain)
    plain.resume_at(epoch=2, batches_done=5)
    assert list(plain) == whole[5:]  # the rest of epoch 2, exactly
    assert list(plain) == whole  # once: a later pass over the epoch is whole
    plain.resume_at(epoch=1, batches_done=5)
    assert list(plain) == whole  # a checkpoint of another epoch skips nothing here

    def mixed() -> MixedBatchSampler:
        samplers = {
            k: LengthGroupedBatchSampler(lengths[:n], 8, shuffle=True, seed=5) for k, n in (("a", 40), ("b", 100))
        }
        return MixedBatchSampler(samplers, {"a": 0, "b": 40}, True, {"a": 0.3, "b": 0.7}, steps=20, seed=5)

    straight = mixed()
    straight.set_epoch(1)
    resumed = mixed()
    resumed.set_epoch(1)
    resumed.resume_at(epoch=1, batches_done=7)
    assert list(resumed) == list(straight)[7:]
