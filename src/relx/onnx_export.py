"""A relx model's logits as an ONNX graph: the encoder and the heads, decoding left to Python.

``write_onnx(encoder, heads, tokenizer, path, pooling)`` (``python -m relx.export ... onnx=true``) traces the
encoder and every head into ``model.onnx`` with dynamic batch and length axes, checks it with
``onnx.checker``, and runs it with ONNX Runtime on batches of other sizes than the traced one, refusing a graph
whose outputs differ from PyTorch's. It uses torch's TorchScript-based exporter (``dynamo=False``): the
``torch.export``-based one needs ``onnxscript``, which relx does not depend on.

Inputs (int64), in this order:

* the tokenizer's: ``input_ids``, ``attention_mask`` ``[batch, sequence]`` and, where the tokenizer makes
  them, ``token_type_ids`` ``[batch, sequence]`` (zeros for a single text);
* then what the heads read of relx's batch (the DataModule's fields of the same names):
  ``word_index`` ``[batch, words]``: each word's subword position (its first; its last with
  ``data.subword=last``), -1 at padding (word taggers, parsers); ``subword_word`` ``[batch, sequence]``: the
  word each subword belongs to, -1 for special tokens and padding (taggers with ``data.subword=mean``;
  ``max`` pooling is refused: torch's exporter has no exact form of its scatter-max);
  ``word_mask`` ``[batch, words]``: 1 for real words (parsers); ``e1_span``/``e2_span`` ``[batch, 2]``:
  the marked entities' inclusive subword spans (R-BERT).

Outputs, named after the heads (the keys of ``head.heads``; ``HEAD_GRAPHS`` lists the families):

* token tagger / CRF: ``<head>_logits`` ``[batch, words, labels]`` (a CRF's emissions: its transitions are
  in ``heads.safetensors``);
* sequence classifier, R-BERT: ``<head>_logits`` ``[batch, labels]``;
* biaffine parser: ``<head>_arc_scores`` ``[batch, words + 1, words + 1]`` (dependent x head, 0 = ROOT) and
  ``<head>_rel_scores`` ``[batch, words, words + 1, labels]`` (each word's relation on every head);
* span QA: ``<head>_start_logits``, ``<head>_end_logits`` ``[batch, sequence]``.

Inputs longer than the encoder's position limit are not cut into windows as relx does: the graph runs one
pass of the encoder. Heads whose forward needs more than fixed tensors (attention capture, documents'
entity structures, multiple choice) are refused with one line naming them.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from torch import Tensor, nn

from relx.data.settings import POOLED
from relx.encoders import Encoded, Encoder
from relx.errors import ConfigError
from relx.heads import (
    BiaffineParserHead,
    CRFHead,
    Head,
    RBertHead,
    SequenceClassificationHead,
    SpanQAHead,
    TokenClassificationHead,
)

ONNX_FILE = "model.onnx"
Heads = Mapping[str, nn.Module] | nn.ModuleDict  # a TaskModule's ``heads``, or any name -> head mapping
OPSET = 17
ENCODER_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# name -> its dynamic axes
AXES: dict[str, dict[int, str]] = {
    "input_ids": {0: "batch", 1: "sequence"},
    "attention_mask": {0: "batch", 1: "sequence"},
    "token_type_ids": {0: "batch", 1: "sequence"},
    "word_index": {0: "batch", 1: "words"},
    "subword_word": {0: "batch", 1: "sequence"},
    "word_mask": {0: "batch", 1: "words"},
    "e1_span": {0: "batch"},
    "e2_span": {0: "batch"},
}


@dataclass(frozen=True)
class HeadGraph:
    """How a head family enters the graph: the batch fields it reads (``pooling`` is ``data.subword``), its
    outputs (name suffix -> dynamic axes) and the tensors it gives them from the head's forward."""

    inputs: Callable[[str], tuple[str, ...]]
    outputs: tuple[tuple[str, dict[int, str]], ...]
    logits: Callable[[Any, Encoded, Any], tuple[Tensor, ...]]


def _forward(head: Any, encoded: Encoded, batch: Any) -> tuple[Tensor, ...]:
    return (head(encoded, batch),)


def _span(head: Any, encoded: Encoded, batch: Any) -> tuple[Tensor, ...]:
    start, end = head(encoded, batch)
    return start, end


def _parser(head: Any, encoded: Encoded, batch: Any) -> tuple[Tensor, ...]:
    output = head(encoded, batch)
    return head.arc_scores(output), head.all_relation_scores(output)


WORD_TAGGER = HeadGraph(
    inputs=lambda pooling: ("word_index", "subword_word") if pooling in POOLED else ("word_index",),
    outputs=(("logits", {0: "batch", 1: "words"}),),
    logits=_forward,
)
SENTENCE = HeadGraph(inputs=lambda pooling: (), outputs=(("logits", {0: "batch"}),), logits=_forward)
# Head class -> its graph; a class not listed is refused (``head_graphs``).
HEAD_GRAPHS: dict[type[Head], HeadGraph] = {
    TokenClassificationHead: WORD_TAGGER,
    CRFHead: WORD_TAGGER,
    SequenceClassificationHead: SENTENCE,
    RBertHead: HeadGraph(
        inputs=lambda pooling: ("e1_span", "e2_span"), outputs=(("logits", {0: "batch"}),), logits=_forward
    ),
    BiaffineParserHead: HeadGraph(
        inputs=lambda pooling: ("word_index", "word_mask"),
        outputs=(
            ("arc_scores", {0: "batch", 1: "words+1", 2: "words+1"}),
            ("rel_scores", {0: "batch", 1: "words", 2: "words+1"}),
        ),
        logits=_parser,
    ),
    SpanQAHead: HeadGraph(
        inputs=lambda pooling: (),
        outputs=(("start_logits", {0: "batch", 1: "sequence"}), ("end_logits", {0: "batch", 1: "sequence"})),
        logits=_span,
    ),
}


def head_graphs(heads: Heads, kind: str = "", pooling: str = "first") -> dict[str, HeadGraph]:
    """Each head's ``HeadGraph``; a ``ConfigError`` naming the first head ONNX export does not support."""
    graphs: dict[str, HeadGraph] = {}
    for name, head in heads.items():
        graph = HEAD_GRAPHS.get(type(head))  # type: ignore[arg-type]
        if graph is None:
            supported = ", ".join(cls.__name__ for cls in HEAD_GRAPHS)
            which = f"head={kind} " if kind else ""
            raise ConfigError(
                f"onnx=true: {which}({name}: {type(head).__name__}) cannot be exported to ONNX: its forward needs "
                f"more than fixed tensors; ONNX export supports {supported}"
            )
        if graph is WORD_TAGGER and pooling == "max":
            raise ConfigError(
                f"onnx=true: {name} ({type(head).__name__}) pools words with data.subword=max, whose scatter-max "
                "has no exact ONNX form in torch's exporter; models trained with data.subword=first|last|mean export"
            )
        graphs[name] = graph
    return graphs


class LogitsGraph(nn.Module):
    """The traced module: the tensors named ``input_names`` in, every head's outputs (``output_names``) out.
    It shares the encoder's model and the heads (no copies); the encoder runs without windows."""

    def __init__(self, encoder: Encoder, heads: Heads, encoder_inputs: Sequence[str], pooling: str = "first") -> None:
        super().__init__()
        self.encoder = Encoder(encoder.model)  # one pass: no windows, no attention capture
        self.heads = nn.ModuleDict(dict(heads))
        self.graphs = head_graphs(heads, pooling=pooling)
        self.pooling = pooling
        extra = dict.fromkeys(field for graph in self.graphs.values() for field in graph.inputs(pooling))
        self.input_names = [*encoder_inputs, *extra]
        self.output_names = [f"{name}_{suffix}" for name, graph in self.graphs.items() for suffix, _ in graph.outputs]

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        outputs = {f"{name}_{suffix}": axes for name, graph in self.graphs.items() for suffix, axes in graph.outputs}
        return {**{name: AXES[name] for name in self.input_names}, **outputs}

    def forward(self, *tensors: Tensor) -> tuple[Tensor, ...]:
        named = dict(zip(self.input_names, tensors, strict=True))
        encoded = self.encoder(named["input_ids"], named["attention_mask"], named.get("token_type_ids"))
        batch = SimpleNamespace(**named, pooling=self.pooling)
        if "word_mask" in named:
            batch.word_mask = named["word_mask"].bool()
        outputs: list[Tensor] = []
        for name, graph in self.graphs.items():
            outputs.extend(graph.logits(self.heads[name], encoded, batch))
        return tuple(outputs)


def encoder_inputs(tokenizer: Any) -> list[str]:
    """The encoder inputs the tokenizer produces, in ``ENCODER_INPUTS`` order."""
    made = set(getattr(tokenizer, "model_input_names", ENCODER_INPUTS))
    return [name for name in ENCODER_INPUTS if name != "token_type_ids" or name in made]


WORDS = ("the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "seven", "birds", "sing")


def example_inputs(tokenizer: Any, names: Sequence[str], lengths: Sequence[int]) -> dict[str, Tensor]:
    """Inputs named ``names`` for texts of ``lengths`` words (different lengths: padding is traced): every
    content subword counts as a word; R-BERT's entities are the first content subword and the rest."""
    texts = [" ".join(WORDS[i % len(WORDS)] for i in range(n)) for n in lengths]
    encoded = tokenizer(texts, padding=True, return_tensors="pt", return_special_tokens_mask=True)
    content = (encoded["special_tokens_mask"] == 0) & (encoded["attention_mask"] == 1)  # [batch, seq]
    positions = [row.nonzero().flatten() for row in content]
    width = max(len(p) for p in positions)
    word_index = torch.full((len(texts), width), -1, dtype=torch.long)
    subword_word = torch.full_like(encoded["input_ids"], -1)
    for row, p in enumerate(positions):
        word_index[row, : len(p)] = p
        subword_word[row, p] = torch.arange(len(p))
    first, last = torch.stack([p[0] for p in positions]), torch.stack([p[-1] for p in positions])
    fields = {
        **{k: v for k, v in encoded.items() if k in ENCODER_INPUTS},
        "word_index": word_index,
        "subword_word": subword_word,
        "word_mask": (word_index >= 0).long(),
        "e1_span": torch.stack([first, first], dim=1),
        "e2_span": torch.stack([first + 1, last], dim=1),
    }
    if "token_type_ids" in names and "token_type_ids" not in fields:
        fields["token_type_ids"] = torch.zeros_like(encoded["input_ids"])
    return {name: fields[name].long() for name in names}


def batch_inputs(batch: Any, names: Sequence[str]) -> dict[str, Tensor]:
    """The graph's inputs from a relx batch (a DataModule's): its fields of those names (``token_type_ids``:
    zeros where the batch has none; masks as int64)."""
    inputs = {}
    for name in names:
        value = getattr(batch, name, None)
        if value is None and name == "token_type_ids":
            value = torch.zeros_like(batch.input_ids)
        if value is None:
            raise ConfigError(f"the batch has no {name}, an input of the ONNX graph")
        inputs[name] = value.long()
    return inputs


def torch_outputs(graph: LogitsGraph, inputs: Mapping[str, Tensor]) -> dict[str, Tensor]:
    with torch.no_grad():
        return dict(zip(graph.output_names, graph(*(inputs[n] for n in graph.input_names)), strict=True))


def onnx_session(path: str | Path) -> Any:
    """An ONNX Runtime session (CPU) of the graph at ``path``."""
    import onnxruntime

    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def run_onnx(graph: str | Path | Any, inputs: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The outputs of the graph (a path, or an ``onnx_session``) for ``inputs`` (those it declares)."""
    session = onnx_session(graph) if isinstance(graph, str | Path) else graph
    names = [o.name for o in session.get_outputs()]
    values = session.run(names, {i.name: inputs[i.name].numpy() for i in session.get_inputs()})
    return {name: torch.from_numpy(value) for name, value in zip(names, values, strict=True)}


def _require_onnx() -> None:
    import importlib.util

    missing = [p for p in ("onnx", "onnxruntime") if importlib.util.find_spec(p) is None]
    if missing:
        raise ConfigError(f"onnx=true needs {' and '.join(missing)}: pip install 'relx[onnx]'")


def check_onnx_export(heads: Heads, kind: str = "", pooling: str = "first") -> None:
    """Refuse (one ``ConfigError``) an export the ONNX packages or the heads do not allow, before anything is
    written."""
    _require_onnx()
    head_graphs(heads, kind, pooling)


def write_onnx(
    encoder: Encoder,
    heads: Heads,
    tokenizer: Any,
    path: str | Path,
    pooling: str = "first",
    kind: str = "",
) -> dict[str, Any]:
    """Trace ``encoder`` + ``heads`` (in eval mode) into ``path`` and check it (see the module docstring);
    returns its description (inputs, outputs with their axes, opset) for ``relx.json``."""
    check_onnx_export(heads, kind, pooling)
    import onnx

    graph = LogitsGraph(encoder, heads, encoder_inputs(tokenizer), pooling).eval()
    traced = example_inputs(tokenizer, graph.input_names, [7, 4])
    with warnings.catch_warnings():
        # the legacy exporter's deprecation notice and tracer notes on shape arithmetic (encoder masks):
        # what they warn of is checked below, on batches of other sizes
        warnings.simplefilter("ignore")
        torch.onnx.export(
            graph,
            tuple(traced[n] for n in graph.input_names),
            str(path),
            input_names=graph.input_names,
            output_names=graph.output_names,
            dynamic_axes=graph.dynamic_axes(),
            opset_version=OPSET,
            dynamo=False,
        )
    model = onnx.load(str(path), load_external_data=False)
    try:
        onnx.checker.check_model(str(path), full_check=True)  # by path: a model over 2 GB keeps external data
    except onnx.checker.ValidationError as err:
        raise ConfigError(f"{path}: not a valid ONNX model: {str(err).splitlines()[0]}") from None
    session = onnx_session(path)
    for lengths in ([3, 12, 9], [13]):  # other batch sizes and lengths than the traced ones
        check_outputs(graph, session, example_inputs(tokenizer, graph.input_names, lengths), path)
    return {
        "file": Path(path).name,
        "opset": OPSET,
        "inputs": {value.name: _shape(value) for value in model.graph.input},
        "outputs": {value.name: _shape(value) for value in model.graph.output},
        "pooling": pooling,
    }


def _shape(value: Any) -> list[str | int]:
    """An ONNX input's or output's dimensions: a name where dynamic (``batch``), else the size."""
    return [dim.dim_param or int(dim.dim_value) for dim in value.type.tensor_type.shape.dim]


def check_outputs(
    graph: LogitsGraph, session: Any, inputs: Mapping[str, Tensor], path: str | Path, tolerance: float = 1e-4
) -> None:
    """Refuse (``ConfigError``) a graph whose ONNX Runtime outputs (``session``) differ from PyTorch's."""
    expected, got = torch_outputs(graph, inputs), run_onnx(session, inputs)
    for name, value in expected.items():
        found = got[name]
        if found.shape != value.shape:
            difference = f"has shape {tuple(found.shape)} where PyTorch's has {tuple(value.shape)}"
        elif not torch.allclose(found, value, rtol=tolerance, atol=tolerance):
            difference = f"differs from PyTorch's by up to {(found - value).abs().max().item():.2e}"
        else:
            continue
        raise ConfigError(f"{path}: ONNX Runtime's {name} {difference}: the graph does not trace this model faithfully")
