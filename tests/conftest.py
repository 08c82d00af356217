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
if os.environ.get("PYTEST_XDIST_WORKER"):
    # One intra-op thread per worker (and per process it starts: CLI runs, DDP ranks, notebook kernels): the
    # workers already share the cores, and on top of that each one's thread pool oversubscribes them and spins
    # in every parallel region. `make test` on 2 cores: 4:18 instead of 5:47, CPU time 6:58 instead of 9:41.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)


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
