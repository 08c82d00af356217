"""Label vocabularies, fixed before training and stored in every checkpoint."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class LabelVocab:
    """Class ids of one label space.

    ``labels`` are the classes the model predicts. Labels met only outside training (a dev or test
    intent that train never had) are appended to ``unseen`` on first sight with ids >= ``len(labels)``:
    the model can never predict them, so they are scored as errors instead of being dropped.
    """

    labels: list[str]
    unseen: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"duplicate labels in vocabulary: {self.labels}")
        self._index = {label: i for i, label in enumerate(self.labels)}
        for label in self.unseen:
            self._index[label] = len(self._index)

    @classmethod
    def from_labels(cls, labels: Iterable[str], first: str | None = None) -> LabelVocab:
        """Sorted vocabulary of ``labels``, with ``first`` (e.g. the outside tag ``O``) at id 0."""
        unique = sorted(set(labels) - {first}) if first is not None else sorted(set(labels))
        return cls(([first] if first is not None else []) + unique)

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    def __contains__(self, label: str) -> bool:
        return label in self._index and self._index[label] < len(self.labels)

    def index(self, label: str) -> int:
        """Id of a trainable label; ``KeyError`` for anything else."""
        i = self._index.get(label)
        if i is None or i >= len(self.labels):
            raise KeyError(label)
        return i

    def index_for_eval(self, label: str) -> int:
        """Id of ``label``, registering it as unseen-in-training if needed."""
        if label not in self._index:
            self.unseen.append(label)
            self._index[label] = len(self._index)
        return self._index[label]

    def label(self, i: int) -> str:
        return self.labels[i] if i < len(self.labels) else self.unseen[i - len(self.labels)]

    def to_dict(self) -> dict[str, Any]:
        return {"labels": list(self.labels), "unseen": list(self.unseen)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LabelVocab:
        return cls(list(data["labels"]), list(data.get("unseen", [])))
