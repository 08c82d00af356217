"""Fixtures only (the bundled tokenizer, an isolated feature cache, ``compose``); shared helpers live in
``helpers.py`` and are imported from there."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

from helpers import compose_config

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tokenizer() -> Any:
    from relx.encoders import EncoderSettings, load_tokenizer

    return load_tokenizer(EncoderSettings())


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELX_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "relx-cache"))


@pytest.fixture
def compose() -> Callable[[list[str]], dict[str, Any]]:
    return compose_config
