"""relx: fine-tune pretrained transformer encoders on relation extraction and related NLP tasks."""

__version__ = "0.2.0"
