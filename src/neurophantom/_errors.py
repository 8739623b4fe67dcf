"""Typed errors raised at the edges of neurophantom.

Every error a user can cause (a bad file, a bad parameter, an unknown name) is a
:class:`NeurophantomError`. The CLI turns it into one line on stderr starting with
``error:`` and exit code 2; nothing else in the package prints tracebacks for user
mistakes.
"""

from __future__ import annotations


class NeurophantomError(ValueError):
    """A problem with the user's input: bad file, bad parameter, unknown name."""


class ValidationError(NeurophantomError):
    """A data object or file whose content breaks its schema."""


class CorruptDataError(NeurophantomError):
    """A file that exists but cannot be read back as valid data."""


class ResourceLimitError(NeurophantomError):
    """A request (a parameter or a size declared in a file) that would need more memory
    or work than the limits allow; raised before anything is allocated."""
