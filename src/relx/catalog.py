"""What ``relx.train --help`` lists: every task with its usual head, the heads that fit it, and its data.

Read from the shipped config groups (``relx.conf``): a task file's first comment lines say what it is and
where its full data goes, its defaults name its usual head; a head fits a task when every label space the
head predicts is one the task provides (a head with one form per label space fits when any form does).

Which heads fit is decided by the task and head classes, and importing them loads torch, transformers and
Lightning (several seconds), so ``--help`` prints the table as generated into the package
(``resources/task_table.txt``, ``python -m relx.catalog`` rewrites it; a test keeps it equal to the
computed one) and computes it only when that file is missing.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf


@dataclass(frozen=True)
class TaskEntry:
    name: str
    about: str  # the file's description (its leading comments)
    usual_head: str
    fitting_heads: tuple[str, ...]


def _group(name: str) -> dict[str, Any]:
    folder = resources.files("relx.conf") / name
    files = sorted((p for p in folder.iterdir() if p.name.endswith(".yaml")), key=lambda p: p.name)
    return {p.name.removesuffix(".yaml"): p for p in files}


def _about(text: str) -> str:
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        if not line.startswith("# @package"):
            lines.append(line.lstrip("# ").rstrip())
    return " ".join(lines)


def _fits(task: dict[str, Any], head: dict[str, Any]) -> bool:
    """``relx.build.check_head_fits_task``'s rule: the one a run applies before anything is built."""
    from relx.build import check_head_fits_task
    from relx.errors import ConfigError

    try:
        check_head_fits_task({"task": task, "head": head})
    except ConfigError:
        return False
    return True


def _load(path: Any) -> dict[str, Any]:
    return OmegaConf.to_container(OmegaConf.load(str(path)))  # type: ignore[return-value]


def task_entries() -> list[TaskEntry]:
    # a head file is the head node, or (the DocRE heads, which also set task options) a global file holding one
    heads = {name: (lambda node: node.get("head", node))(_load(path)) for name, path in _group("head").items()}
    entries = []
    for name, path in _group("task").items():
        text = path.read_text(encoding="utf-8")
        usual = re.search(r"override /head:\s*(\w+)", text)
        task = _load(path)["task"]
        fitting = tuple(h for h, node in heads.items() if _fits(task, node))
        entries.append(TaskEntry(name, _about(text), usual.group(1) if usual else "", fitting))
    return entries


def format_task_table(width: int = 110) -> str:
    """The tasks block of ``relx.train --help``, computed from the config groups and classes (slow)."""
    blocks = []
    for entry in task_entries():
        head = f"task={entry.name}  (head: {entry.usual_head}; fits: {', '.join(entry.fitting_heads)})"
        about = textwrap.fill(entry.about, width, initial_indent="    ", subsequent_indent="    ")
        blocks.append(f"  {head}\n{about}")
    return "\n".join(blocks)


TABLE_FILE = "task_table.txt"  # in relx/resources/


def shipped_task_table() -> str:
    """The tasks block as generated into the package, or computed when the file is missing."""
    shipped = resources.files("relx") / "resources" / TABLE_FILE
    return shipped.read_text(encoding="utf-8").rstrip("\n") if shipped.is_file() else format_task_table()


def main() -> None:
    """Regenerate ``relx/resources/task_table.txt`` after a task or head config changes."""
    from relx.io import write_text_atomic

    path = Path(str(resources.files("relx"))) / "resources" / TABLE_FILE
    write_text_atomic(path, format_task_table() + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
