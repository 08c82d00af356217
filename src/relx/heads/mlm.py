"""Masked-language-model head (continued pretraining, ``task=mlm``), as BERT's: dense -> GELU -> LayerNorm, then
a decoder tied to the encoder's word embeddings, plus a bias per token."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from relx.data.batch import IGNORE_INDEX
from relx.encoders import Encoded, Encoder
from relx.heads.base import Head
from relx.heads.batches import MaskedTokens

# Columns of the decoded statistics of each row (``MaskedLMHead.decode``): what the metric sums.
MASKED, NLL, CORRECT = 0, 1, 2


@dataclass
class MaskedLMOutput:
    """Logits ``[n_masked, vocab]`` of the masked positions only (the other positions carry no loss), the
    batch row of each (``rows`` ``[n_masked]``) and its original token (``gold`` ``[n_masked]``)."""

    logits: Tensor
    rows: Tensor
    gold: Tensor
    batch_rows: int


class MaskedLMHead(Head):
    """Predicts the original token at each masked position (``mlm_labels``): the state goes through a dense
    layer, GELU and LayerNorm, then is scored against every row of the word embedding matrix (tied, as BERT's
    decoder: new tokens of ``encoder.extend_vocab`` are predicted with their own rows) plus a bias.

    The transform and the bias start from the pretrained checkpoint's masked-LM head when it ships one
    (``cls.predictions`` of BERT, ``lm_head`` of RoBERTa; ``relx.encoders.files.pretrained_lm_head``), else
    from BERT's initialisation. ``num_labels`` is unused: the vocabulary is the encoder's. Batch contract:
    ``MaskedTokens``.
    """

    label_space = "mlm"
    gold_field = "mlm_labels"

    def __init__(
        self,
        hidden_size: int,
        num_labels: int = 0,
        dropout: float = 0.0,
        layer_norm_eps: float = 1e-12,
        label_smoothing: float = 0.0,
        initializer_range: float = 0.02,
    ) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.norm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(0))  # one per token, sized by bind_encoder
        self.label_smoothing = label_smoothing
        nn.init.normal_(self.dense.weight, std=initializer_range)
        nn.init.zeros_(self.dense.bias)
        self._embeddings: Callable[[], Tensor] | None = None

    def bind_encoder(self, encoder: Encoder) -> None:
        """Tie the decoder to the encoder's word embeddings (read at each forward, so a resize is followed;
        not registered here, so the optimiser and checkpoints hold the matrix once, in the encoder), size
        the bias to the vocabulary, and take the pretrained masked-LM head where the checkpoint has one."""
        model = encoder.model
        self._embeddings = lambda: cast(nn.Embedding, model.get_input_embeddings()).weight
        vocab = int(cast(nn.Embedding, model.get_input_embeddings()).num_embeddings)
        if self.bias.numel() != vocab:
            self.bias = nn.Parameter(torch.zeros(vocab, device=self.dense.weight.device))
        if encoder.source is not None:
            from relx.encoders.files import pretrained_lm_head

            self.load_pretrained(pretrained_lm_head(encoder.source))

    @torch.no_grad()
    def pretrained_weights(self) -> dict[str, Tensor]:
        """The head's weights under relx's names (``load_pretrained``'s input), for an encoder directory."""
        return {name: value.detach() for name, value in self.named_parameters()}

    def load_pretrained(self, weights: Mapping[str, Tensor]) -> None:
        """Copy a checkpoint's masked-LM head (relx names: ``dense.*``, ``norm.*``, ``bias``); a bias for fewer
        tokens than the vocabulary (tokens added since) fills the rest with its mean."""
        own = dict(self.named_parameters())
        with torch.no_grad():
            for name, value in weights.items():
                target = own.get(name)
                if target is None:
                    continue
                if name == "bias" and value.shape[0] < target.shape[0]:
                    target[: value.shape[0]] = value.to(target.dtype)
                    target[value.shape[0] :] = value.float().mean().to(target.dtype)
                elif value.shape == target.shape:
                    target.copy_(value.to(target.dtype))

    def forward(self, encoded: Encoded, batch: MaskedTokens) -> MaskedLMOutput:
        """Logits of the masked positions (``mlm_labels != -100``) only."""
        if self._embeddings is None:
            raise RuntimeError("MaskedLMHead.bind_encoder was not called: the decoder has no embeddings")
        labels = batch.mlm_labels
        if labels is None:
            raise RuntimeError("the batch has no masks drawn (MaskedLMBatch.for_epoch)")
        where = labels != IGNORE_INDEX  # [rows, seq]
        rows = where.nonzero()[:, 0]
        states = encoded.hidden[where]  # [n_masked, hidden]
        states = self.norm(F.gelu(self.dense(self.dropout(states))))
        weight = self._embeddings()
        logits = states @ weight.to(states.dtype).t() + self.bias.to(states.dtype)  # [n_masked, vocab]
        return MaskedLMOutput(logits=logits, rows=rows, gold=labels[where], batch_rows=int(labels.shape[0]))

    def loss(self, output: MaskedLMOutput, batch: Any) -> Tensor:
        """Mean cross-entropy over the batch's masked tokens."""
        return F.cross_entropy(output.logits.float(), output.gold, label_smoothing=self.label_smoothing)

    def decode(self, output: MaskedLMOutput, batch: Any) -> Tensor:
        """Per row ``[batch, 3]``: masked tokens, their summed negative log-likelihood, and how many of them the
        most probable token gets right (what perplexity and masked-token accuracy are computed from)."""
        nll = F.cross_entropy(output.logits.float(), output.gold, reduction="none")
        correct = (output.logits.argmax(-1) == output.gold).float()
        per_token = torch.stack([torch.ones_like(nll), nll.detach(), correct], dim=1)  # [n_masked, 3]
        stats = torch.zeros(output.batch_rows, 3, device=per_token.device)
        return stats.index_add_(0, output.rows, per_token)

    def per_example(self, output: MaskedLMOutput, decoded: Tensor, batch: Any) -> list[Any]:
        """``{masked, nll, correct}`` per row (``relx.predict``'s records, the prediction files)."""
        return [
            {"masked": int(row[MASKED]), "nll": float(row[NLL]), "correct": int(row[CORRECT])}
            for row in decoded.tolist()
        ]
