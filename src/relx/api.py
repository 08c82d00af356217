"""The one-line Python API: ``relx.load(checkpoint).predict(inputs)``, as SuPar's ``Parser.load(...).predict(...)``.

``load`` rebuilds a trained model from a ``relx.train`` checkpoint alone (its stored config, vocabularies
and what its task learned from training); ``predict`` takes what ``relx.predict`` reads (a file in the
task family's input format, ``relx.inputs.INPUT_FORMATS``), or, for the families whose input is one
text a line (words, parsing, sentence relations, masked-LM text), a list of strings; it returns one readable
record per input: the same records ``relx.predict`` writes as JSON lines.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from relx.errors import ConfigError

# Input families whose raw input is one text a line, so a list of strings can be predicted directly.
LINE_FAMILIES = ("words", "parsing", "relations", "text")


class Model:
    """A checkpoint restored for prediction (``relx.load``); see the module docstring."""

    def __init__(self, checkpoint: dict[str, Any], batch_size: int | None = None, accelerator: str = "auto") -> None:
        from relx.runs import restore

        _, self.module, self.datamodule = restore(checkpoint, read_data=False, eval_batch_size=batch_size)
        self.accelerator = accelerator

    @property
    def task(self) -> Any:
        """The checkpoint's ``relx.tasks.Task`` (label vocabularies: ``model.task.vocabs``)."""
        return self.datamodule.task

    def predict(self, inputs: str | Path | Sequence[str] | Sequence[Any]) -> list[dict[str, Any]]:
        """Predictions for ``inputs``: a path to a file of the task family's input format, a list of texts
        (one sentence each; relations: the two entities marked ``<e1>..</e1>``, ``<e2>..</e2>``), or a list of
        the task's examples. Returns one record per input, as ``relx.predict``'s JSON lines."""
        from relx.scoring import predict_split

        examples = self._examples(inputs)
        if not examples:
            return []
        self.datamodule.set_predict_examples(examples)
        self.datamodule.setup("predict")
        predictions = predict_split(self.module, self.datamodule, "predict", self.accelerator)
        return list(self.task.raw_records(examples, predictions))

    def _examples(self, inputs: str | Path | Sequence[Any]) -> list[Any]:
        if isinstance(inputs, (str, Path)):
            if not Path(inputs).is_file():
                raise ConfigError(f"{inputs}: not a file (give a list of texts to predict on strings)")
            return list(self.task.read_raw(inputs))
        items = list(inputs)
        if not items or not all(isinstance(item, str) for item in items):
            return items  # the task's own examples
        if self.task.input_format not in LINE_FAMILIES:
            raise ConfigError(
                f"task {self.task.name!r} reads files ({self.task.input_format} format), not lists of texts: "
                "give a path (python -m relx.predict --help shows the format)"
            )
        if any(not text.strip() for text in items):
            raise ConfigError("an input text is empty: give one sentence per text")
        with tempfile.TemporaryDirectory() as tmp:  # the family's own line reader splits words and marks
            path = Path(tmp) / "input.txt"
            path.write_text("\n".join(text.replace("\n", " ") for text in items) + "\n", encoding="utf-8")
            examples = list(self.task.read_raw(path))
        # each record names its text by position, not by the temporary file
        return [dataclasses.replace(ex, source=f"text {i}") for i, ex in enumerate(examples)]


def load(
    checkpoint: str | Path, batch_size: int | None = None, accelerator: str = "auto", task_name: str | None = None
) -> Model:
    """A trained model from a ``relx.train`` checkpoint (``<run dir>/checkpoints/best.ckpt``) or a directory
    written by ``python -m relx.export``, loaded safely (``relx.checkpointing``: no code in the file is ever
    run). A multi-task checkpoint needs ``task_name`` (the task whose heads predict), unless it has a single task."""
    from relx.checkpointing import load_relx_checkpoint
    from relx.multitask import checkpoint_of_task

    stored = checkpoint_of_task(load_relx_checkpoint(checkpoint), task_name, checkpoint)
    return Model(stored, batch_size=batch_size, accelerator=accelerator)
