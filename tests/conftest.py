"""Shared fixtures: the bundled tokenizer, composed configs with the tiny encoder, temp run dirs."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

FIXTURES = Path(__file__).parent / "fixtures"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def tokenizer() -> Any:
    from relx.encoders import EncoderSettings, load_tokenizer

    return load_tokenizer(EncoderSettings())


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELX_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "relx-cache"))


def compose_config(overrides: list[str], config_name: str = "train", resolve: bool = True) -> Any:
    """The resolved config dict the entry point would build (composed from the installed package);
    with ``resolve=False`` the unresolved ``DictConfig``."""
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    with initialize_config_module("relx.conf", version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=overrides)
    if not resolve:
        return cfg
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


@pytest.fixture
def compose() -> Callable[[list[str]], dict[str, Any]]:
    return compose_config


TINY_FAST = [
    "encoder=tiny",
    "trainer.max_steps=2",
    "trainer.enable_progress_bar=false",
    "data.batch_size=8",
]
