"""Download one model file into a directory, checking free disk first and size + sha256 while streaming.

The whole download runs within one deadline (see http.py), so a server that drips bytes cannot hold
the updater's loop (and with it image updates) for longer than SMARTCAM_MODEL_DOWNLOAD_TIMEOUT_S.
A URL (or redirect) `check` refuses is never requested: the model is rejected with the reason.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import requests

from smartcam.updater.models.errors import DownloadFailed, ModelRejected
from smartcam.updater.models.http import DeadlineExceeded, Heartbeat, UrlCheck, stream
from smartcam.updater.models.remote import RemoteModel
from smartcam.updater.origins import OriginRefused

CHUNK_BYTES = 1 << 16


def check_free_space(directory: Path, needed_bytes: int, reserve_bytes: int) -> None:
    """Refuse to start a download that would leave less than `reserve_bytes` free."""
    try:
        free = shutil.disk_usage(directory).free
    except OSError as error:
        raise DownloadFailed(f"cannot check free disk in {directory}: {error}") from None
    if free - needed_bytes < reserve_bytes:
        raise DownloadFailed(f"not enough free disk in {directory}: {free // 2**20} MiB free, the model needs "
                             f"{needed_bytes // 2**20} MiB and {reserve_bytes // 2**20} MiB must stay free")


def download_file(session: requests.Session, url: str, model: RemoteModel, target: Path, deadline_s: float,
                  *, heartbeat: Heartbeat | None = None, check: UrlCheck | None = None) -> None:
    """Stream `url` to `target` (fsynced) within `deadline_s`; ModelRejected if it is not exactly the announced file
    or `check` refuses its URL or a redirect."""
    digest = hashlib.sha256()
    size = 0
    chunks = stream(session, url, deadline_s, CHUNK_BYTES, heartbeat, check=check)
    try:
        with target.open("wb") as handle:
            for chunk in chunks:
                size += len(chunk)
                if size > model.size_bytes:
                    raise ModelRejected(f"model file {url} is larger than the manifest's size_bytes "
                                        f"{model.size_bytes}; the manifest or the file is wrong")
                digest.update(chunk)
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
    except OriginRefused as error:
        raise ModelRejected(str(error)) from None
    except DeadlineExceeded:
        raise DownloadFailed(f"model file {url} did not download within {deadline_s:g}s "
                             f"({size} of {model.size_bytes} bytes; SMARTCAM_MODEL_DOWNLOAD_TIMEOUT_S); "
                             "retried at the next poll") from None
    except requests.RequestException as error:
        raise DownloadFailed(f"cannot download model file {url}: {error}") from None
    except OSError as error:
        raise DownloadFailed(f"cannot write model file {target}: {error}") from None
    finally:
        chunks.close()
    if size != model.size_bytes:
        raise ModelRejected(f"model file {url} is truncated: {size} bytes, the manifest says {model.size_bytes}")
    if digest.hexdigest() != model.sha256:
        raise ModelRejected(f"model file {url} has sha256 {digest.hexdigest()}, the manifest says {model.sha256}: "
                            "the file is corrupt or not the published model")
