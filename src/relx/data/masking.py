"""Masked-language-model inputs: which tokens to hide and what to show in their place (pure, no task knowledge).

Words, not subwords, are the units that are masked (whole-word masking): a word's subwords are hidden
together, so the model cannot fill in ``##ing`` from ``walk``. In CJK text every character is a word of its
own (``relx.data.text.split_cjk``): Chinese has no spaces, and the bundled BERT-family tokenizers split it
into characters anyway, so per-character masking is what whole-word masking means there.

Per sequence, ``rate`` of its maskable tokens (at least one) are chosen, word by word in a random order
(a word that would overshoot the budget is skipped, as in BERT's ``create_pretraining_data.py``). Each chosen
token is then, independently, replaced by the mask token (``mask_share``, 80 %), by a random token
(``random_share``, 10 %), or kept (the rest, 10 %); the model predicts the original token at every chosen
position.

Draws are reproducible: each sequence has its own random stream keyed by ``(seed, stream, epoch, example)``
(``numpy.random.SeedSequence``), so the masks of an example depend neither on the batch it lands in nor on
the process, DataLoader worker or resumption that draws them. Training redraws them each epoch (``epoch``);
evaluation uses one fixed draw, so that perplexities of different epochs and runs compare the same masks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from relx.data.batch import IGNORE_INDEX

TRAINING_STREAM = 0
EVALUATION_STREAM = 1


@dataclass
class MaskingPlan:
    """How masked-LM inputs are drawn (see the module docstring).

    ``rate``: the share of a sequence's maskable tokens to predict; ``mask_share`` / ``random_share``: of the
    chosen tokens, those shown as ``mask_id`` / as a random id from ``replacement_ids`` (the rest are kept);
    ``seed``: the run's seed, first part of every sequence's stream key.
    """

    mask_id: int
    replacement_ids: Sequence[int]
    rate: float = 0.15
    mask_share: float = 0.8
    random_share: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 < self.rate <= 1.0:
            raise ValueError(f"the masking rate must be in (0, 1], not {self.rate}")
        if self.mask_share < 0 or self.random_share < 0 or self.mask_share + self.random_share > 1.0:
            raise ValueError(
                f"mask_share ({self.mask_share}) and random_share ({self.random_share}) must be >= 0 and sum to <= 1"
            )
        if not len(self.replacement_ids):
            raise ValueError("replacement_ids is empty: no token to show as a random replacement")
        self._replacements = np.asarray(self.replacement_ids, dtype=np.int64)

    def rng(self, stream: int, epoch: int, example: int) -> np.random.Generator:
        """The random stream of one sequence."""
        return np.random.default_rng(np.random.SeedSequence([self.seed, stream, epoch, example]))

    def choose(self, word_ids: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Positions ``[seq]`` (bool) chosen for prediction: whole words (``word_ids``: the word of each
        position, ``-1`` for positions never masked: special tokens, padding) until ``rate`` of the maskable
        positions are chosen (at least one word)."""
        chosen = np.zeros(word_ids.shape, dtype=bool)
        maskable = word_ids >= 0
        n = int(maskable.sum())
        if n == 0:
            return chosen
        budget = max(1, round(n * self.rate))
        words, sizes = np.unique(word_ids[maskable], return_counts=True)
        taken: list[int] = []
        total = 0
        for i in rng.permutation(len(words)):
            if total >= budget:
                break
            if total + sizes[i] > budget:
                continue
            taken.append(int(words[i]))
            total += int(sizes[i])
        if not taken:  # every word is longer than the budget: take the first word drawn
            taken.append(int(words[rng.integers(len(words))]))
        chosen[np.isin(word_ids, taken) & maskable] = True
        return chosen

    def mask_row(
        self, input_ids: np.ndarray, word_ids: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """(shown ids, labels) ``[seq]`` of one sequence: labels hold the original id at chosen positions and
        ``IGNORE_INDEX`` elsewhere; chosen positions show the mask, a random token or the original."""
        chosen = self.choose(word_ids, rng)
        labels = np.full(input_ids.shape, IGNORE_INDEX, dtype=np.int64)
        labels[chosen] = input_ids[chosen]
        shown = input_ids.copy()
        where = np.flatnonzero(chosen)
        draw = rng.random(len(where))
        to_mask = where[draw < self.mask_share]
        to_random = where[(draw >= self.mask_share) & (draw < self.mask_share + self.random_share)]
        shown[to_mask] = self.mask_id
        shown[to_random] = rng.choice(self._replacements, size=len(to_random))
        return shown, labels

    def mask_batch(
        self, input_ids: Tensor, word_ids: Tensor, example_ids: Sequence[int], stream: int, epoch: int
    ) -> tuple[Tensor, Tensor]:
        """(shown ids, labels) ``[rows, seq]`` of a padded batch: row ``i`` drawn from the stream of example
        ``example_ids[i]`` (``word_ids`` ``[rows, seq]``, ``-1`` at special tokens and padding)."""
        ids = input_ids.cpu().numpy()
        words = word_ids.cpu().numpy()
        shown = ids.copy()
        labels = np.full(ids.shape, IGNORE_INDEX, dtype=np.int64)
        for row, example in enumerate(example_ids):
            shown[row], labels[row] = self.mask_row(ids[row], words[row], self.rng(stream, epoch, int(example)))
        return torch.from_numpy(shown).to(input_ids.dtype), torch.from_numpy(labels)
