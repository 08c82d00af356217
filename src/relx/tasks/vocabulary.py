"""``encoder.extend_vocab``: tokens added to the tokenizer before training, from a file or from the training text
the tokenizer reads as ``[UNK]`` (``relx.data.vocab_extension``), with the data summary's account of it.

Runs in ``relx.runs`` once the task's data is read (its training text is known) and before it is encoded;
``relx.build.build_module`` then gives the new embedding rows their start (``relx.encoders.extension``) and
stores the added tokens in every checkpoint, so that evaluation, prediction, ``relx.load`` and exports rebuild
the same tokenizer without the training data (``relx.runs.restore``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from relx.data.text import split_cjk, unique_passages
from relx.data.vocab_extension import frequent_tokens, read_token_file, unk_rate, unknown_token_counts
from relx.encoders.extension import VocabExtension, add_tokens
from relx.errors import ConfigError
from relx.tasks.datamodule import TaskDataModule

FROM_TASK = "task"
DEFAULT_MIN_COUNT = 2


def training_passages(datamodule: TaskDataModule[Any]) -> list[list[str]]:
    """The training split's text (``Task.passages``, CJK characters split), each passage once."""
    task, train = datamodule.task, datamodule.examples.get("train", [])
    return unique_passages(split_cjk(words) for ex in train for words in task.passages(ex))


def extend_vocabulary(datamodule: TaskDataModule[Any], encoder: Mapping[str, Any]) -> VocabExtension | None:
    """Add the tokens ``encoder.extend_vocab`` asks for to ``datamodule``'s tokenizer (``None``: nothing asked).

    ``extend_vocab``: a file of tokens (one a line), or ``task``: every candidate of the training text
    (``relx.data.vocab_extension.unknown_token_counts``) seen at least ``extend_vocab_min_count`` times
    (default 2). The data summary's ``vocab_extension`` reports the source, the tokens added and the
    training text's ``[UNK]`` rate before and after.
    """
    spec = encoder.get("extend_vocab")
    if not spec:
        return None
    spec = str(spec)
    min_count = encoder.get("extend_vocab_min_count")
    min_count = DEFAULT_MIN_COUNT if min_count is None else int(min_count)
    if min_count < 1:
        raise ConfigError(f"encoder.extend_vocab_min_count must be >= 1, not {min_count}")
    if "train" not in datamodule.examples:
        raise ConfigError("encoder.extend_vocab needs the training split (its text is what the tokenizer must read)")
    tokenizer = datamodule.tokenizer
    try:
        passages = training_passages(datamodule)
    except ConfigError as err:
        passages = None  # a task without text: a token file still works, without [UNK] rates
        if spec == FROM_TASK:
            raise ConfigError(f"encoder.extend_vocab=task: {err}") from None
    before = unk_rate(passages, tokenizer) if passages is not None else None
    if spec == FROM_TASK:
        counts = unknown_token_counts(passages or [], tokenizer)
        wanted = frequent_tokens(counts, min_count)
        source: dict[str, Any] = {"from": FROM_TASK, "min_count": min_count, "candidates": len(counts)}
    else:
        path = Path(spec).expanduser()
        if not path.is_file():
            raise ConfigError(f"encoder.extend_vocab={spec}: no such file (a file of tokens, one a line, or `task`)")
        wanted = read_token_file(path, tokenizer)
        source = {"from": str(path.resolve()), "in_file": len(wanted)}
    extension = add_tokens(tokenizer, wanted)
    after = unk_rate(passages, tokenizer) if passages is not None else None
    mean_init = sum(1 for ids in extension.pieces.values() if not ids)
    extension.summary = {
        **source,
        "added": len(extension.tokens),
        "init_from_pieces": len(extension.tokens) - mean_init,
        "init_from_mean": mean_init,
        "tokens": extension.tokens,
        "train_unk_before": before,
        "train_unk_after": after,
    }
    datamodule.extra_summary["vocab_extension"] = extension.summary
    return extension


def restore_vocabulary(tokenizer: Any, stored: Mapping[str, Any] | None) -> VocabExtension | None:
    """Add the tokens a checkpoint's run added (``vocab_extension`` of its stored run configuration) to
    ``tokenizer`` (already there, as in an exported tokenizer: nothing changes); ``None`` when it added none."""
    tokens = list((stored or {}).get("tokens") or [])
    if not tokens:
        return None
    add_tokens(tokenizer, tokens)
    return VocabExtension(tokens=tokens)
