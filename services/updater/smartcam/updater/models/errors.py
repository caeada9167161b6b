"""Why a model update did not happen: the outcomes are recorded differently."""

from __future__ import annotations


class ManifestUnavailable(Exception):  # noqa: N818 - reads better at the raise site than ...Error
    """The channel's manifest cannot be fetched (network, HTTP error, deadline): nothing was attempted, no history.

    `kind` names the problem for counting and logging once (`models.problems.<kind>`).
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class ManifestInvalid(Exception):  # noqa: N818
    """The manifest was fetched but is unusable (too large, not JSON, a bad field): a rejected attempt.

    `digest` (sha256 of the bytes read) identifies this publication, so it is recorded once, not at every poll.
    """

    def __init__(self, kind: str, message: str, digest: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.digest = digest


class ModelRejected(Exception):  # noqa: N818
    """The model itself is wrong (size, sha256, too big): recorded as `rejected`, never retried."""


class DownloadFailed(Exception):  # noqa: N818
    """A transient problem (network, disk full, deadline): recorded as `failed`, retried at the next poll."""
