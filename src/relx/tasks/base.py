"""What relx knows about one task family, as one object: ``Task``.

A Task joins what the data side needs to know about a dataset family (SuPar's ``Transform`` plays this part
there): how to read its labelled files and raw ``relx.predict`` input, which label vocabularies it has and
which label spaces it offers heads (``label_spaces``), the special tokens it adds to the tokenizer, how
examples become columns, encoded features and a padded batch, which metrics score it, and which official
files its predictions are written as. It reads no files on construction and holds no split: the generic
``TaskDataModule`` (``relx.tasks.datamodule``) does splits, caching and loaders for every Task, and a run
may hold several Tasks over one tokenizer.

Life cycle (driven by ``TaskDataModule`` and ``relx.build``):

1. ``Task(**knobs)`` from the ``task`` config node (``_target_`` + the family's options);
2. ``attach(tokenizer, settings)``: the run's tokenizer and ``data.*`` settings, checked against the
   task's needs (a fast tokenizer for offsets, room for a question ...);
3. ``read_split`` per split, ``build_vocabs`` (or vocabularies from a checkpoint) -> ``use_vocabs``, and
   ``learn_from_train`` with the training examples (DocRED's facts for Ign F1; kept in checkpoints as
   ``state()``, restored with ``load_state``);
4. ``special_tokens()`` are added to the tokenizer (and the embeddings resized) by ``relx.build``;
5. ``columns`` -> ``encode`` (a batched ``datasets.map`` function) -> ``collator``;
6. while fitting, ``calibrate`` tunes decision rules on each validation's dev metrics (DocRE's threshold);
7. ``write_outputs`` / ``write_raw_predictions`` with the decoded predictions, and ``label_pairs`` for the
   pictures ``relx.plots`` draws of them (plain data: tasks know nothing of plotting).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Generic, NamedTuple, TypeVar

import datasets
from torchmetrics import Metric
from transformers import PreTrainedTokenizerBase

from relx.data.settings import DataSettings
from relx.data.splits import carve_dev
from relx.data.vocab import LabelVocab
from relx.errors import ConfigError
from relx.io import write_jsonl_atomic
from relx.targets import relx_class

E = TypeVar("E")

# Metrics of a label space when the task's config names none (``task.metrics.<space>``).
DEFAULT_METRICS = {"token": "relx.metrics.SeqevalScores", "sentence": "relx.metrics.LabelAccuracy"}


class LabelPairs(NamedTuple):
    """Gold and predicted sentence-level labels of one evaluated split, as plain data for pictures
    (``relx.plots`` draws a confusion matrix and per-label F1 from them).

    ``space``: what the labels are, for titles (``relation``, ``intent``); ``gold`` and ``predicted``: one
    label per example; ``labels``: the order to show them in (the vocabulary's, then labels met only
    outside training, then any other label seen).
    """

    space: str
    gold: list[str]
    predicted: list[str]
    labels: list[str]


def sentence_label_pairs(
    space: str, gold: Sequence[str | None], predictions: Mapping[str, Sequence[Any]], vocab: LabelVocab | None
) -> LabelPairs | None:
    """``LabelPairs`` of a task with one label per example (``predictions["sentence"]``), or None when the
    head predicts none or an example is unlabelled (nothing to compare)."""
    predicted = predictions.get("sentence")
    if not gold or predicted is None or len(predicted) != len(gold):
        return None
    if any(g is None for g in gold) or any(not isinstance(p, str) for p in predicted):
        return None
    known = [*vocab.labels, *vocab.unseen] if vocab is not None else []
    seen = {str(g) for g in gold} | set(predicted)
    return LabelPairs(space, [str(g) for g in gold], list(predicted), known + sorted(seen - set(known)))


class Task(ABC, Generic[E]):
    """One task family over examples of type ``E``; see the module docstring for the life cycle.

    ``name``: the task's name (``task=NAME``); ``files``: split -> file name inside the data directory, for
    families with one file a split; ``metrics``: label space -> ``{_target_: relx.metrics..., **options}``,
    the field's scorer (default ``DEFAULT_METRICS``); ``metric_prefix``: label space -> prefix of its metric
    names (ATIS: ``slot_``, ``intent_``).
    """

    label_spaces: ClassVar[tuple[str, ...]] = ()  # the spaces heads may predict (head.label_space)
    input_format: ClassVar[str] = ""  # relx.predict's input family (relx.predict.INPUT_FORMATS)
    marks_entities: ClassVar[bool] = False  # its batches hold e1_span/e2_span (heads reading entity spans fit)
    encoding_version: ClassVar[int] = 1  # bump when encode() changes: invalidates cached features
    # data.too_long choices the task implements (relx.data.settings); others handle long inputs their own way
    too_long_choices: ClassVar[tuple[str, ...]] = ("window",)

    def __init__(
        self,
        name: str,
        files: Mapping[str, str | None] | None = None,
        metrics: Mapping[str, Mapping[str, Any] | None] | None = None,
        metric_prefix: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.files: dict[str, str | None] = dict(files or {})
        self.metric_specs = {space: dict(spec) for space, spec in (metrics or {}).items() if spec}
        self.metric_prefix = dict(metric_prefix or {})
        self._tokenizer: PreTrainedTokenizerBase | None = None
        self._settings: DataSettings | None = None
        self._vocabs: dict[str, LabelVocab] | None = None

    # ---- run context ---------------------------------------------------------------------------------
    def attach(self, tokenizer: PreTrainedTokenizerBase, settings: DataSettings) -> None:
        """The run's tokenizer and data settings; override ``check_settings`` to refuse ones that cannot work."""
        self._tokenizer, self._settings = tokenizer, settings
        if settings.too_long not in self.too_long_choices:
            raise ConfigError(
                f"data.too_long={settings.too_long} does not apply to task {self.name!r} (it handles long inputs its "
                f"own way; data.too_long: {' | '.join(self.too_long_choices)})"
            )
        self.check_settings()

    def check_settings(self) -> None:
        """Raise ``ConfigError`` for settings this task cannot work with; default: all are fine."""

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        if self._tokenizer is None:
            raise RuntimeError(f"task {self.name!r} is not attached to a tokenizer yet (Task.attach)")
        return self._tokenizer

    @property
    def settings(self) -> DataSettings:
        return self._settings if self._settings is not None else DataSettings()

    @property
    def vocabs(self) -> dict[str, LabelVocab]:
        if self._vocabs is None:
            raise RuntimeError(f"task {self.name!r} has no label vocabularies yet (Task.use_vocabs)")
        return self._vocabs

    def use_vocabs(self, vocabs: Mapping[str, LabelVocab]) -> None:
        """The label vocabularies (built from training data, or stored in a checkpoint); override
        ``check_vocabs`` to refuse ones the task's options contradict."""
        self._vocabs = dict(vocabs)
        self.check_vocabs()

    def check_vocabs(self) -> None:
        """Raise ``ConfigError`` when the vocabularies contradict an option (an unknown negative label)."""

    # ---- reading -------------------------------------------------------------------------------------
    @abstractmethod
    def read_split(self, data_dir: Path, split: str) -> tuple[list[E], dict[str, int]] | None:
        """(examples, reading statistics) of ``split`` in ``data_dir``, or ``None`` when it is absent."""

    def split_file(self, data_dir: Path | None, split: str) -> Path | None:
        """The existing file of ``split`` (from ``files``), or ``None``."""
        name = self.files.get(split)
        if data_dir is None or not name or not (data_dir / name).exists():
            return None
        return data_dir / name

    def use_file(self, split: str, path: Path) -> Path:
        """Read ``split`` from ``path``, a labelled file of the task's format under any name (``relx.evaluate
        input=FILE``), instead of its usual file; returns the data directory to read from."""
        self.files[split] = path.name
        return path.parent

    def describe_split(self, data_dir: Path | None, split: str) -> str:
        """Where ``split`` is looked for, for messages."""
        return str(Path(data_dir or ".") / (self.files.get(split) or f"<no {split} file configured>"))

    def is_labelled(self, examples: Sequence[E]) -> bool:
        """Whether the examples carry gold labels to score (DocRED's official test file does not)."""
        return True

    def carve_dev(self, train: list[E]) -> tuple[list[E], list[E]]:
        """(train, dev) when the data has no dev split; default: a deterministic share of the examples."""
        return carve_dev(train, self.settings.dev_fraction, self.settings.seed)

    def passages(self, example: E) -> list[list[str]]:
        """The example's text as passages of words (a sentence; a context and its question): what continued
        pretraining on this task's data (``task=mlm mlm.source=NAME``) and ``encoder.extend_vocab=task`` read.
        Default: the task gives no text (a ``ConfigError``)."""
        raise ConfigError(f"task {self.name!r} gives no text to read (Task.passages)")

    @abstractmethod
    def read_raw(self, path: str | Path) -> list[E]:
        """Unlabelled inputs for ``relx.predict``, in the family's ``input_format``."""

    @abstractmethod
    def without_labels(self, example: E) -> E:
        """The example with its gold labels removed (prediction input)."""

    # ---- vocabularies and tokens ---------------------------------------------------------------------
    @abstractmethod
    def build_vocabs(self, data_dir: Path, train: list[E]) -> dict[str, LabelVocab]:
        """Label vocabularies from the training data (and label files, where the format has them)."""

    def check_train_labels(self, train: list[E], vocabs: Mapping[str, LabelVocab]) -> None:
        """Raise ``DataFormatError`` when a training label is not a class (e.g. a label file mismatch)."""

    def learn_from_train(self, train: list[E]) -> None:
        """What the task keeps from the training examples beyond vocabularies; default: nothing."""

    def state(self) -> dict[str, Any]:
        """What ``learn_from_train`` kept, as plain JSON-able data stored in checkpoints; default: nothing."""
        return {}

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Restore ``state()`` from a checkpoint (evaluation without the training data)."""

    def check_learned(self) -> str | None:
        """Why scores will be off when nothing was learned from training (None: nothing is missing)."""
        return None

    def special_tokens(self) -> list[str]:
        """Tokens the task adds to the tokenizer (entity markers), known once vocabularies are set."""
        return []

    # ---- encoding ------------------------------------------------------------------------------------
    @abstractmethod
    def columns(self, examples: list[E], split: str) -> dict[str, list[Any]]:
        """Raw columns of ``examples`` (label ids included) for ``datasets.Dataset.from_dict``."""

    @abstractmethod
    def encode(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        """Batched ``map`` function: raw columns -> model features (must include ``input_ids``)."""

    def fingerprint(self) -> Any:
        """Options of the task that change its features (part of the feature cache key)."""
        return None

    def count_encoding_losses(self, features: datasets.Dataset) -> dict[str, int]:
        """What encoding could not keep (truncated words, examples that do not fit), for the summary."""
        return {}

    def keep_for_training(self, features: datasets.Dataset) -> datasets.Dataset:
        """Training features to keep (e.g. drop examples that cannot be encoded); default: all."""
        return features

    def summarize_features(self, split: str, features: datasets.Dataset) -> dict[str, Any]:
        """Extra per-split facts of the encoded features for the data summary; default: none."""
        return {}

    def summary(self) -> dict[str, Any]:
        """Task-wide facts for the data summary (e.g. the window stride used); default: none."""
        return {}

    @abstractmethod
    def collator(self) -> Callable[[list[dict[str, Any]]], Any]:
        """Features -> the task's batch (an ``EncodedBatch``)."""

    # ---- metrics -------------------------------------------------------------------------------------
    def metric(self, space: str) -> Metric:
        """The field's metric of label space ``space`` (``task.metrics.<space>``, else ``DEFAULT_METRICS``)."""
        if space not in self.label_spaces:
            raise ConfigError(f"task {self.name!r} has no {space!r} labels (it has {', '.join(self.label_spaces)})")
        spec = dict(self.metric_specs.get(space) or {"_target_": DEFAULT_METRICS[space]})
        cls = relx_class(spec.pop("_target_"))
        return cls(vocab=self.vocabs[space], prefix=self.metric_prefix.get(space, ""), **spec)  # type: ignore[no-any-return]

    def calibrate(self, space: str, dev_metrics: Mapping[str, float]) -> dict[str, float]:
        """Decision parameters for the heads of label space ``space``, tuned on the (unprefixed) dev metrics
        of each validation while fitting, passed to ``Head.calibrate``; default: none."""
        return {}

    # ---- outputs -------------------------------------------------------------------------------------
    @abstractmethod
    def write_outputs(
        self, run_dir: Path, split: str, examples: list[E], predictions: dict[str, list[Any]]
    ) -> list[Path]:
        """Write ``split``'s predictions as the field's official files (and re-score / plot them where the
        field has an official scorer); return the paths written."""

    @abstractmethod
    def raw_records(self, examples: list[E], predictions: dict[str, list[Any]]) -> Iterable[dict[str, Any]]:
        """One readable record per input (``relx.predict``'s JSON lines, ``relx.load(...).predict``'s result)."""

    def label_pairs(self, examples: list[E], predictions: dict[str, list[Any]]) -> LabelPairs | None:
        """Gold and predicted sentence-level labels of ``examples`` for a confusion matrix (``relx.plots``);
        None (the default) for tasks without one label per example, and for unlabelled examples."""
        return None

    def write_raw_predictions(self, path: Path, examples: list[E], predictions: dict[str, list[Any]]) -> None:
        """``raw_records`` as JSON lines (``relx.predict``)."""
        write_jsonl_atomic(path, self.raw_records(examples, predictions))
