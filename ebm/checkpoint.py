"""Checkpoints: atomic saves that survive a kill, loads that run no code and explain what is wrong.

A checkpoint is ``{"state": {name: state_dict}, "extra": {...}}`` written by `save_checkpoint` with
`torch.save` and read by `load_checkpoint` with ``torch.load(weights_only=True)``: tensors and plain
Python data only, so loading a file can never execute code from it.

Atomicity: the payload goes to a temporary file ``NAME.PID.XXXXXXXX.tmp`` next to the target, is
flushed to disk, and then renamed over the target (``os.replace``), so the target always holds the
last complete checkpoint. A process killed mid-save (SIGKILL, power loss) leaves its temporary
behind; the next save to, or resume from, the same target removes those orphans: only files of
this exact pattern, next to the target, whose writing process (PID) no longer runs on this machine.

Example:
    >>> save_checkpoint("run/rbm.pt", model=rbm, optimizer=opt, extra={"epoch": 3})
    >>> extra = load_checkpoint("run/rbm.pt", rbm, optimizer=opt)   # the model may be positional
"""

from __future__ import annotations

import os
import pickle
import re
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import torch

from ebm._validation import format_error

__all__ = ["save_checkpoint", "load_checkpoint", "clean_orphaned_temporaries"]

_FOREIGN_TMP_AGE_S = 24 * 3600  # without a way to ask whether a PID runs (not POSIX), only day-old orphans go


def _orphan_pattern(path: Path) -> re.Pattern:
    return re.compile(re.escape(path.name) + r"\.(\d+)\.[A-Za-z0-9_]+\.tmp")


def _process_running(pid: int) -> bool:
    if pid == os.getpid():
        return True  # another thread of this process may be saving right now
    try:
        os.kill(pid, 0)  # signal 0: existence check only, nothing is sent
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists but belongs to someone else, or cannot tell: keep the file
    return True


def clean_orphaned_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove the temporaries that killed saves to ``path`` left next to it; return what was removed.

    Only files named ``NAME.PID.XXXXXXXX.tmp`` (the pattern `save_checkpoint` writes) in the
    target's folder are candidates, and only when process PID no longer runs (on platforms
    without a cheap liveness check: when the file is over a day old). A save in progress in a
    live process is never touched.
    """
    path = Path(path)
    pattern = _orphan_pattern(path)
    removed = []
    try:
        entries = list(os.scandir(path.parent))
    except FileNotFoundError:
        return removed
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is None or not entry.is_file(follow_symlinks=False):
            continue
        if os.name == "posix":
            orphan = not _process_running(int(match.group(1)))
        else:
            orphan = time.time() - entry.stat().st_mtime > _FOREIGN_TMP_AGE_S
        if orphan:
            try:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
            except FileNotFoundError:
                pass  # someone else cleaned it first
    return removed


def save_checkpoint(path: str | os.PathLike, *, extra: Mapping | None = None, **modules) -> Path:
    """Save the state dicts of ``modules`` (and plain ``extra`` data) to ``path`` atomically.

    The file is written to ``NAME.PID.XXXXXXXX.tmp`` in the same folder, flushed to disk and
    renamed over the target, so an interrupted save never corrupts the last good checkpoint;
    orphans of earlier killed saves are removed first (`clean_orphaned_temporaries`).

    Args:
        path: the checkpoint file; its folder is created.
        extra: plain data (numbers, strings, lists, dicts, tensors) stored beside the states.
        **modules: ``name=module`` for anything with ``state_dict()`` (modules, optimisers, ...).

    Returns:
        ``path`` as a `Path`.

    Raises:
        TypeError: a value in ``modules`` has no ``state_dict()``.

    Example:
        >>> save_checkpoint("rbm.pt", model=rbm, optimizer=opt, extra={"epoch": 3})
    """
    path = Path(path)
    for name, module in modules.items():
        if module is not None and not callable(getattr(module, "state_dict", None)):
            raise TypeError(format_error(name, "a module or optimiser with state_dict()", type(module).__name__, f"pass {name}=<an nn.Module or torch.optim.Optimizer>"))
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_orphaned_temporaries(path)
    payload = {"state": {name: m.state_dict() for name, m in modules.items() if m is not None}, "extra": dict(extra or {})}
    fd, tmp = tempfile.mkstemp(prefix=f"{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    if os.name == "posix":  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return path


_RIGHT_CALL = "load_checkpoint(path, model, optimizer=opt, objective=obj) with the names used when saving"


def _not_a_checkpoint(path: Path, found: str) -> ValueError:
    return ValueError(format_error("path", "a checkpoint written by ebm.train.save_checkpoint", f"{path}: {found}", "check the path; re-create the file with save_checkpoint"))


def _read(path: Path) -> dict:
    """torch.load(weights_only=True) with one clear line for every way a file can be wrong."""
    if path.is_dir():
        raise IsADirectoryError(format_error("path", "a checkpoint file", f"the folder {path}", "name the .pt file inside it"))
    if path.stat().st_size == 0:
        raise _not_a_checkpoint(path, "an empty file (a save that never finished?)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        refused = re.search(r"GLOBAL ([\w.]+)", str(err))
        if refused is None:
            raise _not_a_checkpoint(path, "not a torch file (unreadable pickle)") from None
        raise ValueError(format_error(
            "path",
            "a checkpoint of tensors and plain data (loaded with weights_only=True)",
            f"{path} needs to run code ({refused.group(1)}) to load; it was refused and nothing ran",
            "load only files you trust; re-save the state with ebm.train.save_checkpoint",
        )) from None
    except (EOFError, RuntimeError) as err:
        raise _not_a_checkpoint(path, f"a truncated or corrupt file ({str(err).splitlines()[0][:80]})") from None
    if not isinstance(payload, dict):
        raise _not_a_checkpoint(path, f"a torch file holding a {type(payload).__name__}, not a checkpoint dict")
    if not isinstance(payload.get("state"), dict) or not isinstance(payload.get("extra"), dict):
        keys = sorted(map(str, payload))[:8]
        raise _not_a_checkpoint(path, f"a dict with keys {keys}, without our 'state' and 'extra' entries")
    return payload


def load_checkpoint(path: str | os.PathLike, *model, **modules) -> dict:
    """Load state dicts saved by `save_checkpoint` into modules; return the ``extra`` data.

    Loading uses ``weights_only=True``: a file that needs code to load is refused (one line, and
    nothing runs). The natural calls both work: ``load_checkpoint(path, model)`` (one positional
    module is the ``model`` entry) and ``load_checkpoint(path, model=m, optimizer=opt, ...)``
    (keyword names are the names given to `save_checkpoint`).

    Args:
        path: the checkpoint file.
        model: at most one positional module, loaded from the ``"model"`` entry.
        **modules: ``name=module`` loaded from entry ``name`` (None values are skipped).

    Returns:
        The ``extra`` dict stored with the checkpoint.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is empty, truncated, not a torch file, not one of our checkpoints,
            needs code to load, or holds a state that does not fit a module.
        KeyError: a module was asked for that the checkpoint does not hold.
        TypeError: more than one positional module, the model given twice, or a value without
            ``load_state_dict``.

    Example:
        >>> extra = load_checkpoint("rbm.pt", rbm)
        >>> extra = load_checkpoint("run/checkpoint.pt", model=rbm, optimizer=opt)
    """
    if len(model) > 1:
        raise TypeError(format_error("modules", "at most one positional module (the model)", f"{len(model)} positional modules", f"name the others: {_RIGHT_CALL}"))
    if model:
        if "model" in modules:
            raise TypeError(format_error("model", "the model once", "a positional module and model=", f"pass it once: {_RIGHT_CALL}"))
        modules = {"model": model[0], **modules}
    for name, module in modules.items():
        if module is not None and not callable(getattr(module, "load_state_dict", None)):
            raise TypeError(format_error(name, "a module or optimiser with load_state_dict()", type(module).__name__, _RIGHT_CALL))
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(format_error("path", "an existing checkpoint file", str(path), "check the path or train first"))
    payload = _read(path)
    for name, module in modules.items():
        if module is None:
            continue
        if name not in payload["state"]:
            raise KeyError(format_error(name, f"one of the saved entries {sorted(payload['state'])}", repr(name), _RIGHT_CALL))
        try:
            module.load_state_dict(payload["state"][name])
        except (RuntimeError, ValueError, KeyError) as err:
            found = " ".join(line.strip() for line in str(err).splitlines() if line.strip())[:300].rstrip(".") or type(err).__name__
            raise ValueError(format_error(name, f"a state that fits this {type(module).__name__}", found,
                                          "build it with the same sizes and settings as the saved one")) from None
    return payload["extra"]
