"""Command-line argument types for `ebm` and its recipes: every value is checked while parsing.

Each function is an ``argparse`` ``type=``: it returns the parsed value or raises
``argparse.ArgumentTypeError`` with the house wording (expected ..., found ...), which the `ebm`
parser prints as ONE line on stderr with exit status 2 -- before any work starts, never a traceback.

Example:
    >>> p.add_argument("--epochs", type=int_at_least(1), default=30, help="passes over the data")
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
from pathlib import Path

__all__ = ["int_at_least", "positive_float", "writable_folder", "writable_file_target", "resolve_file_target"]


def int_at_least(minimum: int):
    """An integer ``>= minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, found {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, found {value}")
        return value

    parse.__name__ = f"integer >= {minimum}"  # argparse names the type in some messages
    return parse


def positive_float(text: str) -> float:
    """A finite number ``> 0``."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, found {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, found {text}")
    return value


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(".")


def _probe_folder(folder: Path, wanted: Path) -> None:
    """Raise ArgumentTypeError unless a file can be created in ``folder`` (created and removed at once)."""
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"expected a folder we can write to, found {wanted} (it goes through the file {folder})")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise argparse.ArgumentTypeError(f"expected a folder we can write to, found {wanted} ({err.strerror or err}: {folder})") from None


def writable_folder(text: str) -> Path:
    """A folder that exists and is writable, or can be created (nothing is created while checking)."""
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"expected a folder, found the file {path}")
    _probe_folder(_nearest_existing(path), path)
    return path


def writable_file_target(text: str) -> str:
    """A file path whose folder exists and is writable or can be created. An existing folder, or a
    path ending in '/', is accepted as a folder to write the default file name into; the text is
    returned unchanged so the caller can tell (see `resolve_file_target`)."""
    path = Path(text).expanduser()
    if text.endswith(("/", os.sep)) or path.is_dir():
        writable_folder(text)
    else:
        _probe_folder(_nearest_existing(path.parent), path)
    return text


def resolve_file_target(text: str | None, default_name: str) -> Path:
    """The file a `writable_file_target` names: ``default_name`` inside a folder, the path itself
    otherwise (``.png`` added when it has no suffix)."""
    if text is None:
        return Path(default_name)
    path = Path(text).expanduser()
    if text.endswith(("/", os.sep)) or path.is_dir():
        return path / default_name
    return path if path.suffix else path.with_name(path.name + ".png")
