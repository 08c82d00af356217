"""Hydra configuration shipped with the package (so it resolves after a plain pip install)."""
