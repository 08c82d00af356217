"""The two recipes of docs/architecture.md, done in a few lines each and trained: a new task family (a toy
"label<TAB>sentence" classification format) and a new head. Neither touches a DataModule."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn
from torchmetrics import MetricCollection

from helpers import TINY_FAST, compose_config
from relx.build import build_module, build_tokenizer
from relx.data.batch import IGNORE_INDEX, EncodedBatch, encoded_inputs, example_ids
from relx.data.settings import DataSettings
from relx.data.vocab import LabelVocab
from relx.encoders import Encoded
from relx.heads.base import SentenceHead
from relx.io import write_jsonl_atomic
from relx.modules import TaskModule
from relx.scoring import predict_split
from relx.tasks import Task, TaskDataModule

Example = tuple[str, str | None]  # (sentence, label)


# ---- recipe 1: a task family ---------------------------------------------------------------------------
@dataclass(kw_only=True)
class LabelledSentences(EncodedBatch):
    sentence_labels: Tensor | None = None


class TsvSentenceTask(Task[Example]):
    """``label<TAB>sentence`` lines; one label per sentence."""

    label_spaces = ("sentence",)

    def read_split(self, data_dir: Path, split: str) -> tuple[list[Example], dict[str, int]] | None:
        path = self.split_file(data_dir, split)
        rows = [line.split("\t", 1) for line in path.read_text().splitlines() if line] if path else None
        return None if rows is None else ([(text, label) for label, text in rows], {})

    def read_raw(self, path: str | Path) -> list[Example]:
        return [(line, None) for line in Path(path).read_text().splitlines() if line]

    def without_labels(self, example: Example) -> Example:
        return (example[0], None)

    def build_vocabs(self, data_dir: Path, train: list[Example]) -> dict[str, LabelVocab]:
        return {"sentence": LabelVocab(sorted({label for _, label in train if label}))}

    def columns(self, examples: list[Example], split: str) -> dict[str, list[Any]]:
        vocab = self.vocabs["sentence"]
        ids = [vocab.index_for_eval(label) if label else IGNORE_INDEX for _, label in examples]
        return {"text": [text for text, _ in examples], "label_id": ids}

    def encode(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        return {
            "input_ids": self.tokenizer(batch["text"], truncation=True, max_length=self.settings.max_length)[
                "input_ids"
            ]
        }

    def collator(self) -> Any:
        def collate(features: list[dict[str, Any]]) -> LabelledSentences:
            labels = [f["label_id"] for f in features]
            return LabelledSentences(
                **encoded_inputs([f["input_ids"] for f in features], self.tokenizer.pad_token_id or 0),
                example_ids=example_ids(features),
                sentence_labels=torch.tensor(labels) if IGNORE_INDEX not in labels else None,
            )

        return collate

    def write_outputs(
        self, run_dir: Path, split: str, examples: list[Example], predictions: dict[str, list[Any]]
    ) -> list[Path]:
        path = run_dir / f"predictions_{split}.jsonl"
        rows = ({"text": t, "gold": g, "pred": p} for (t, g), p in zip(examples, predictions["sentence"], strict=True))
        write_jsonl_atomic(path, rows)
        return [path]

    def raw_records(self, examples: list[Example], predictions: dict[str, list[Any]]) -> list[dict[str, Any]]:
        return [{"text": t, "label": p} for (t, _), p in zip(examples, predictions["sentence"], strict=True)]


# ---- recipe 2: a head ------------------------------------------------------------------------------------
class MeanPoolHead(SentenceHead):
    """Linear over the mean of the non-padding states."""

    def __init__(self, hidden_size: int, num_labels: int, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.out = nn.Linear(hidden_size, num_labels)
        self.label_smoothing = label_smoothing

    def forward(self, encoded: Encoded, batch: Any) -> Tensor:
        mask = batch.attention_mask.unsqueeze(-1).to(encoded.hidden.dtype)
        return self.out((encoded.hidden * mask).sum(1) / mask.sum(1))


# ---- both, trained ---------------------------------------------------------------------------------------
def write_data(root: Path) -> Path:
    lines = [
        f"{'greeting' if i % 2 else 'question'}\t{'hello there friend' if i % 2 else 'where is the station'}"
        for i in range(24)
    ]
    (root / "train.tsv").write_text("\n".join(lines[:20]) + "\n")
    (root / "dev.tsv").write_text("\n".join(lines[20:]) + "\nfarewell\tgoodbye now\n")
    return root


def test_a_new_task_and_a_new_head_train_without_touching_a_datamodule(tmp_path: Path) -> None:
    cfg = compose_config(["task=snips", "head=sequence", *TINY_FAST])  # encoder, head and optimiser settings
    tokenizer = build_tokenizer(cfg)
    task = TsvSentenceTask("greetings", files={"train": "train.tsv", "validation": "dev.tsv"})
    data = TaskDataModule(task, write_data(tmp_path), tokenizer, DataSettings(batch_size=8))
    data.read()
    assert task.vocabs["sentence"].labels == ["greeting", "question"]

    module = build_module(cfg, task)  # the task's metric (accuracy) for the config's head
    encoder = build_module(cfg, task).encoder
    head = MeanPoolHead(encoder.hidden_size, task.vocabs["sentence"].num_labels)
    own = TaskModule(encoder, {"mean": head}, MetricCollection({"sentence": task.metric("sentence")}))
    for model in (module, own):
        trainer = L.Trainer(max_steps=2, logger=False, enable_checkpointing=False, enable_progress_bar=False)
        trainer.fit(model, datamodule=data)
        metrics = trainer.validate(model, datamodule=data, verbose=False)[0]
        assert 0.0 <= metrics["val/acc"] <= 1.0 and "val/loss" in metrics

    written = task.write_outputs(
        tmp_path, "validation", data.examples["validation"], predict_split(own, data, "validation")
    )
    rows = [json.loads(line) for line in written[0].read_text().splitlines()]
    assert len(rows) == 5 and rows[-1]["gold"] == "farewell"  # unseen in training: scored, never predicted
    assert {r["pred"] for r in rows} <= {"greeting", "question"}
    assert data.data_summary()["unseen_labels"] == {"sentence": ["farewell"]}


MY_NER = """\
# @package _global_
defaults:
  - override /head: token
task:
  _target_: relx.tasks.words.BioNerTask
  name: my_ner
  sample: conll_ner
  files: {train: train.txt, validation: dev.txt, test: test.txt}
  column_format: conll
  monitor: {token: val/f1}
"""


def test_a_new_dataset_of_an_existing_family_is_one_config_file(tmp_path: Path) -> None:
    from relx.runs import train

    (tmp_path / "conf" / "task").mkdir(parents=True)
    (tmp_path / "conf" / "task" / "my_ner.yaml").write_text(MY_NER)
    cfg = compose_config(["task=my_ner", f"hydra.searchpath=[file://{tmp_path / 'conf'}]", *TINY_FAST])
    assert cfg["head"]["kind"] == "token"
    metrics = train(cfg, tmp_path / "run")
    assert "val/f1" in metrics and (tmp_path / "run" / "predictions_test.conll").is_file()
