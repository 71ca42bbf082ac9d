"""Compatibility shim: the shared checks now live in the public module `samplers.validation`."""

from .validation import *  # noqa: F401,F403
from .validation import __all__  # noqa: F401
