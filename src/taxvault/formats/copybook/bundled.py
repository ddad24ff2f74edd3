"""The copybooks shipped with taxvault (IMF-style entity and tax-module records), loaded as package data."""

from __future__ import annotations

from importlib import resources

from .layout import Layout, parse_copybook

BUNDLED = ("imf_entity", "imf_module")


def bundled_copybook_text(name: str) -> str:
    """Source text of the bundled copybook ``name`` (``imf_entity`` or ``imf_module``)."""
    if name not in BUNDLED:
        raise KeyError(f"no bundled copybook {name!r}; choose from {', '.join(BUNDLED)}")
    return (resources.files(__package__) / "copybooks" / f"{name}.cpy").read_text(encoding="utf-8")


def load_bundled_copybook(name: str) -> Layout:
    """Parse the bundled copybook ``name`` (cached per call site by the caller if needed)."""
    return parse_copybook(bundled_copybook_text(name), source_name=f"{name}.cpy")
