"""The one exception type that commands turn into a clear message and a non-zero exit."""
from __future__ import annotations


class GoldloopError(Exception):
    """A user-facing failure: bad input, missing data, a misconfigured task.

    The message must name the file, line or field at fault; commands print it as
    ``error: <message>`` and exit with status 1.
    """
