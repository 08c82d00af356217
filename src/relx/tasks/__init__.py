"""Tasks: what relx knows about each task family (``Task``), and the one DataModule over any Task
(``TaskDataModule``). The families: ``words`` (BIO NER, intent + slots), ``relations`` (SemEval, KLUE-RE),
``treebanks`` (UD, PTB), ``documents`` (DocRED, Re-DocRED, CDR), ``mrc`` (span QA, choice, selection)."""

from relx.tasks.base import Task
from relx.tasks.datamodule import TaskDataModule

__all__ = ["Task", "TaskDataModule"]
