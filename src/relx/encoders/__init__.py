"""Encoders: a thin wrapper over Hugging Face ``AutoModel`` with offline-friendly loading."""

from relx.encoders.hf import Encoded, Encoder, EncoderSettings, load_encoder, load_tokenizer, resolve_model_name

__all__ = ["Encoded", "Encoder", "EncoderSettings", "load_encoder", "load_tokenizer", "resolve_model_name"]
