"""Probing the pairwise-attention features (the study in Meng et al.'s pairwise-attention paper): which
attention heads carry dependency structure, ranked by a tree ensemble's feature importance, and attention maps as PNG.

    features, labels, names = arc_features(encoder, datamodule, "validation", max_sentences=200)
    ranking = rank_features(features, labels, names)          # [(name, importance), ...] best first
    plot_attention(encoder, tokenizer, words, layer, head, "map.png")
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from relx.encoders import Encoder
from relx.heads.pairwise import pair_attention


def feature_names(layers: int, heads: int, hidden: int) -> list[str]:
    """Names of C = T_i . T_j . a_ij . a_ji, as Meng et al.'s pairwise-attention paper orders it."""
    att = [f"L{layer}H{head}" for layer in range(layers) for head in range(heads)]
    return (
        [f"T_i[{k}]" for k in range(hidden)] + [f"T_j[{k}]" for k in range(hidden)]
        + [f"a_ij {n}" for n in att] + [f"a_ji {n}" for n in att]
    )  # fmt: skip


@torch.no_grad()
def arc_features(
    encoder: Encoder, datamodule: Any, split: str, max_sentences: int = 200
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """One row C(i, j) per ordered word pair (ROOT included as head) of up to ``max_sentences``
    sentences, labelled 1 when ``j`` is ``i``'s gold head. ``encoder`` must capture attention."""
    encoder.eval()
    rows, labels, seen = [], [], 0
    for batch in datamodule.loader(split, shard=False):
        encoded = encoder(batch.input_ids, batch.attention_mask)
        if encoded.attentions is None:
            raise ValueError("probing needs attention weights: load the encoder with attention='capture'")
        positions = torch.cat([torch.zeros_like(batch.word_index[:, :1]), batch.word_index.clamp(min=0)], dim=1)
        states = torch.gather(encoded.hidden, 1, positions.unsqueeze(-1).expand(-1, -1, encoded.hidden.shape[-1]))
        att = pair_attention(encoded.attentions, positions)  # [batch, LH, n, n]
        for b in range(len(batch)):
            n = int(batch.word_mask[b].sum())
            for i in range(1, n + 1):
                for j in range(n + 1):
                    if i != j:
                        rows.append(torch.cat([states[b, i], states[b, j], att[b, :, i, j], att[b, :, j, i]]).numpy())
                        labels.append(int(batch.heads[b, i - 1]) == j)
            seen += 1
            if seen >= max_sentences:
                break
        if seen >= max_sentences:
            break
    config = encoder.model.config
    names = feature_names(config.num_hidden_layers, config.num_attention_heads, encoder.hidden_size)
    return np.stack(rows), np.asarray(labels, dtype=int), names


def rank_features(
    features: np.ndarray, labels: np.ndarray, names: Sequence[str], n_estimators: int = 100, seed: int = 0
) -> list[tuple[str, float]]:
    """Feature importances of an extra-trees classifier (the paper's tree-based probe), best first."""
    from sklearn.ensemble import ExtraTreesClassifier

    model = ExtraTreesClassifier(n_estimators=n_estimators, random_state=seed, n_jobs=1, max_features="sqrt")
    model.fit(features, labels)
    order = np.argsort(-model.feature_importances_)
    return [(names[i], float(model.feature_importances_[i])) for i in order]


@torch.no_grad()
def plot_attention(
    encoder: Encoder, tokenizer: Any, words: Sequence[str], layer: int, head: int, path: str | Path
) -> Path:
    """Save the word-by-word attention map of one layer and head for a sentence (first subwords)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    enc = tokenizer([list(words)], is_split_into_words=True, return_tensors="pt")
    first = [0] * len(words)
    for pos, word_id in reversed(list(enumerate(enc.word_ids(0)))):
        if word_id is not None:
            first[word_id] = pos
    encoder.eval()
    encoded = encoder(enc["input_ids"], enc["attention_mask"])
    if encoded.attentions is None:
        raise ValueError("plotting needs attention weights: load the encoder with attention='capture'")
    positions = torch.tensor([[0, *first]])
    att = pair_attention(encoded.attentions, positions)[0]  # [LH, n, n]
    heads_per_layer = encoded.attentions[0].shape[1]
    matrix = att[layer * heads_per_layer + head].numpy()
    labels = [tokenizer.cls_token or "ROOT", *words]
    fig, ax = plt.subplots(figsize=(1 + 0.45 * len(labels), 1 + 0.45 * len(labels)))
    ax.imshow(matrix, cmap="viridis")
    ax.set_xticks(range(len(labels)), labels, rotation=90)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_title(f"layer {layer}, head {head}")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
