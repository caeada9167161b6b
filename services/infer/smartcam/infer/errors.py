"""The one error type for everything wrong with a model or its manifest."""

from __future__ import annotations

from smartcam.common.service import FatalError


class ModelError(FatalError):
    """The model cannot be used; the message names the file and how to fix it.

    A subclass of `FatalError`, so the service exits with the reason in its health file
    instead of running without detection.
    """
