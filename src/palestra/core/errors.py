"""The project's error base class.

Every error a user can cause (a malformed file, a bad config, a missing tool) is a
``PalestraError`` whose ``str`` is one line naming the file and position where known; the
CLI prints it as ``error: ...`` and exits with status 2, never with a traceback.
"""

from __future__ import annotations


class PalestraError(Exception):
    """A user-facing error with a one-line message."""


class ConfigError(PalestraError):
    """A config file or option that does not fit its dataclass."""
