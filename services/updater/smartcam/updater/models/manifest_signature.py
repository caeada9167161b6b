"""The publisher's detached signature of the model manifest (`<manifest URL>.sig`, ssh-keygen's
`smartcam-model` namespace), checked before the model is downloaded.

The manifest carries the model file's sha256, so a signed manifest vouches for the file too. A missing
or wrong signature is a rejected publication (recorded like an invalid manifest); a signature that
cannot be fetched for a network reason is a transient problem, tried again at the next poll.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

from smartcam.updater.models.errors import ManifestInvalid, ManifestUnavailable
from smartcam.updater.models.http import DeadlineExceeded, Heartbeat, TooLarge, UrlCheck, fetch_capped
from smartcam.updater.origins import OriginRefused
from smartcam.updater.signatures import MAX_SIGNATURE_BYTES, MODEL_NAMESPACE, SignatureError, verify

SIGN_HINT = ("sign it with `ssh-keygen -Y sign -f KEY -n smartcam-model manifest.json` and publish the "
             "manifest.json.sig it writes beside the manifest")


def signature_url(manifest_url: str) -> str:
    """`https://h/devrelease/manifest.json?x` -> `https://h/devrelease/manifest.json.sig?x`."""
    parts = urlsplit(manifest_url)
    return urlunsplit(parts._replace(path=parts.path + ".sig"))


def check_manifest_signature(session: requests.Session, manifest_url: str, data: bytes, *, deadline_s: float,
                             allowed_signers: Path, heartbeat: Heartbeat | None = None,
                             check: UrlCheck | None = None) -> None:
    """Raise ManifestInvalid unless `data` (the manifest's bytes) is signed by a trusted key."""
    digest = hashlib.sha256(data).hexdigest()
    url = signature_url(manifest_url)
    try:
        signature = fetch_capped(session, url, deadline_s, MAX_SIGNATURE_BYTES, heartbeat, check=check)
    except OriginRefused as error:
        raise ManifestUnavailable("manifest_origin", str(error)) from None
    except DeadlineExceeded:
        raise ManifestUnavailable("manifest_deadline", f"the signature {url} did not arrive within {deadline_s:g}s "
                                  "(SMARTCAM_MODEL_MANIFEST_TIMEOUT_S)") from None
    except TooLarge:
        raise ManifestInvalid("manifest_unsigned", f"model manifest {manifest_url} refused: {url} is over "
                              f"{MAX_SIGNATURE_BYTES} bytes, not an SSH signature; {SIGN_HINT}", digest) from None
    except requests.HTTPError as error:
        status = error.response.status_code if error.response is not None else 0
        if not 400 <= status < 500:
            raise ManifestUnavailable("manifest", f"cannot fetch the signature {url}: {error}") from None
        raise ManifestInvalid("manifest_unsigned", f"model manifest {manifest_url} refused: no signature at {url} "
                              f"(HTTP {status}); {SIGN_HINT}", digest) from None
    except (requests.RequestException, OSError) as error:
        raise ManifestUnavailable("manifest", f"cannot fetch the signature {url}: {error}") from None
    try:
        verify(data, signature, MODEL_NAMESPACE, allowed_signers)
    except SignatureError as error:
        raise ManifestInvalid("manifest_unsigned", f"model manifest {manifest_url} refused: {error}; {SIGN_HINT}",
                              digest) from None
