"""Why a model update did not happen: the three outcomes are recorded differently."""

from __future__ import annotations


class ManifestUnavailable(Exception):  # noqa: N818 - reads better at the raise site than ...Error
    """The channel's manifest cannot be fetched or understood: nothing was attempted, so no history."""


class ModelRejected(Exception):  # noqa: N818
    """The model itself is wrong (size, sha256, too big): recorded as `rejected`, never retried."""


class DownloadFailed(Exception):  # noqa: N818
    """A transient problem (network, disk full): recorded as `failed`, retried at the next poll."""
