"""The version of relx (its own module, so that the library imports it without the package's entry point)."""

__version__ = "0.2.0"
