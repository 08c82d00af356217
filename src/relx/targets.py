"""Classes named by configs (``_target_``), resolved only inside ``relx.*``.

A config may come from a checkpoint someone sent; resolving its names must never make relx import and
construct arbitrary classes. Lowest layer: anything may use it.
"""

from __future__ import annotations

from typing import Any, cast

from hydra.utils import get_class

from relx.errors import ConfigError


def relx_class(target: Any) -> type:
    """The class a ``_target_`` names, which must live in ``relx.*`` (checked on the name and on the class's
    ``__module__``, so ``relx.build.L.Trainer``, a foreign class re-exported by relx, is refused too)."""
    if not isinstance(target, str) or not target.startswith("relx.") or not target.replace(".", "").isidentifier():
        raise ConfigError(f"_target_ {target!r} is not a relx class (only relx.* classes are built from configs)")
    try:
        cls = get_class(target)
    except Exception as err:  # Hydra wraps import errors in its own types
        raise ConfigError(f"_target_ {target!r} cannot be imported: {str(err).splitlines()[0]}") from None
    if not str(getattr(cls, "__module__", "")).startswith("relx."):
        raise ConfigError(f"_target_ {target!r} is not a relx class (only relx.* classes are built from configs)")
    return cast(type, cls)
