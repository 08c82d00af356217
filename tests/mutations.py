"""Hypothesis strategies that damage real data files the way users' files get damaged (``mutated``: the
bytes; ``restructured``: valid JSON with a value dropped, renamed or retyped), and the one
assertion every reader must satisfy on them: it reads the file, or it raises a ``RelxError`` whose
message names the file (and the line or record) — never any other exception.

Used by the per-reader property tests (``tests/test_reader_properties_*.py``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from relx.errors import RelxError

# Deterministic (CI runs the same inputs every time), no example database on disk, no deadline
# (the first call of a reader may import modules), and the suite's time budget in mind.
MUTATION_SETTINGS = settings(
    max_examples=60,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

KINDS = (
    "truncate", "delete_line", "duplicate_line", "swap_columns", "empty_field", "wrong_encoding",
    "random_bytes", "replace_line",
)  # fmt: skip
# Opt-in damage that keeps the text valid UTF-8, so that it reaches past decoding into the format:
# a digit changed (ids, heads, offsets) or a separator/control character inserted. Pass
# ``kinds=KINDS + TEXT_KINDS`` to ``mutated``; the default mix is unchanged.
TEXT_KINDS = ("change_digit", "insert_char")
_INSERTED = ("\t", "\n", "\r", " ", "-", ".", "#", "_", "0", "\x0c", "\x1c", "\x85", "\u2028", "\ufeff")


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def _apply(data: bytes, kind: str, draw: Any) -> bytes:
    lines = _lines(data)
    index = draw(st.integers(0, max(len(lines) - 1, 0)))
    if kind == "truncate":
        return data[: draw(st.integers(0, len(data)))]
    if kind == "delete_line":
        return b"\n".join(lines[:index] + lines[index + 1 :])
    if kind == "duplicate_line":
        return b"\n".join(lines[: index + 1] + lines[index:])
    if kind in ("swap_columns", "empty_field"):
        sep = b"\t" if b"\t" in lines[index] else b" "
        fields = lines[index].split(sep)
        if len(fields) < 2:
            return data
        i = draw(st.integers(0, len(fields) - 1))
        if kind == "empty_field":
            fields[i] = b""
        else:
            j = draw(st.integers(0, len(fields) - 1))
            fields[i], fields[j] = fields[j], fields[i]
        lines[index] = sep.join(fields)
        return b"\n".join(lines)
    if kind == "wrong_encoding":
        text = data.decode("utf-8", errors="replace")
        return draw(st.sampled_from([text.encode("utf-16"), text.encode("latin-1", errors="replace") + b"\xe9\xff"]))
    if kind == "random_bytes":
        at = draw(st.integers(0, len(data)))
        return data[:at] + draw(st.binary(min_size=1, max_size=12)) + data[at:]
    if kind == "replace_line":
        lines[index] = draw(st.text(max_size=30)).encode("utf-8")
        return b"\n".join(lines)
    if kind == "change_digit":
        digits = [i for i, byte in enumerate(data) if 0x30 <= byte <= 0x39]
        if not digits:
            return data
        at = draw(st.sampled_from(digits))
        return data[:at] + str(draw(st.integers(0, 9))).encode() + data[at + 1 :]
    if kind == "insert_char":
        at = draw(st.integers(0, len(data)))
        return data[:at] + draw(st.sampled_from(_INSERTED)).encode("utf-8") + data[at:]
    raise ValueError(kind)


@st.composite
def mutated(draw: Any, original: bytes, max_mutations: int = 3, kinds: Sequence[str] = KINDS) -> bytes:
    """``original`` damaged by one to ``max_mutations`` of ``kinds`` (default: the ``KINDS`` above)."""
    data = original
    for _ in range(draw(st.integers(1, max_mutations))):
        data = _apply(data, draw(st.sampled_from(kinds)), draw)
    return data


# ---- structural damage of valid JSON ------------------------------------------------------------
# Values a reader may meet where it expects something else: a string for a list, null, an empty list, a
# negative or huge index, a bool (an int to Python), a float, nested odd shapes.
ODD_VALUES: tuple[Any, ...] = (
    None, "", "x", [], {}, [None], ["x"], [[-1]], {"x": 1}, -1, 0, 10**12, -(10**12), 1.5, True,
)  # fmt: skip
EDITS = ("drop", "rename", "retype", "retype", "duplicate", "renumber")


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths to every value under ``node``; of a list, only its first two and last items are walked into
    (records are alike, and the words of long sentences would drown the fields that matter)."""
    paths = [prefix]
    if isinstance(node, dict):
        keys: list[Any] = list(node)
    elif isinstance(node, list):
        keys = sorted({i for i in (0, 1, len(node) - 1) if 0 <= i < len(node)})
    else:
        keys = []
    for key in keys:
        paths += _paths(node[key], (*prefix, key))
    return paths


def _odd_value(draw: Any) -> Any:
    return copy.deepcopy(draw(st.sampled_from(ODD_VALUES)))  # a copy: a later edit may change it in place


def _edit(data: Any, draw: Any) -> Any:
    """One edit of a random value (or of its key) anywhere in ``data``; the top level itself may be replaced."""
    path = draw(st.sampled_from(_paths(data)))
    if not path:
        return _odd_value(draw)
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    node = parent[key]
    edit = draw(st.sampled_from(EDITS))
    if edit == "drop":
        del parent[key]
    elif edit == "rename" and isinstance(parent, dict):
        parent[f"{key}_"] = parent.pop(key)
    elif edit == "duplicate" and isinstance(parent, list):
        parent.insert(key, copy.deepcopy(node))
    elif edit == "renumber" and isinstance(node, int) and not isinstance(node, bool):
        parent[key] = draw(st.sampled_from([-1, -node - 1, node + 1, node + 1000, 10**12]))
    else:
        parent[key] = _odd_value(draw)
    return data


@st.composite
def restructured(draw: Any, original: Any, max_edits: int = 2, json_lines: bool = False) -> bytes:
    """``original`` (parsed JSON) with one to ``max_edits`` structural edits, serialised again (as JSON lines
    of its top-level items when ``json_lines`` and the result is still a list)."""
    data = copy.deepcopy(original)
    for _ in range(draw(st.integers(1, max_edits))):
        data = _edit(data, draw)
    if json_lines and isinstance(data, list):
        return "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in data).encode("utf-8")
    return json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8")


def reads_or_names_the_file(read: Callable[[Path], Any], path: Path) -> None:
    """``read(path)`` succeeds, or fails with a ``RelxError`` naming ``path``; anything else fails the test."""
    try:
        read(path)
    except RelxError as err:
        assert str(path) in str(err) or path.name in str(err), f"error does not name the file: {err}"
        assert "\n" not in str(err).strip(), f"error is not one line: {err!r}"
