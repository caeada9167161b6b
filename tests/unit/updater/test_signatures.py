"""Release signatures checked with the real ssh-keygen against real key pairs (tests/signing.py)."""

from pathlib import Path

import pytest

from smartcam.updater.main import self_test
from smartcam.updater.signatures import (
    IMAGE_NAMESPACE,
    MODEL_NAMESPACE,
    PAYLOAD_LABEL,
    SignatureError,
    check_image,
    image_labels,
    image_payload,
    repository_path,
    signature_tag,
    verify,
)

ROOT = Path(__file__).resolve().parents[3]
REPOSITORY = "127.0.0.1:5000/smartcam/infer"
DIGEST = "sha256:" + "a" * 64
OTHER_DIGEST = "sha256:" + "b" * 64


def signed_labels(signer, repository=REPOSITORY, digest=DIGEST, namespace=IMAGE_NAMESPACE):
    payload = image_payload(repository, digest)
    return image_labels(payload, signer.sign(payload, namespace))


def test_an_image_signed_by_a_trusted_key_passes(release_signer):
    check_image(signed_labels(release_signer), REPOSITORY, DIGEST, release_signer.allowed_signers)


def test_the_registry_address_is_not_part_of_what_is_checked(release_signer):
    """The device may reach the publisher's registry by another name; the key is what is trusted."""
    labels = signed_labels(release_signer, repository="registry.example.com/smartcam/infer")
    check_image(labels, REPOSITORY, DIGEST, release_signer.allowed_signers)
    assert repository_path("localhost:5000/smartcam/infer") == "smartcam/infer"
    assert repository_path("smartcam/infer") == "smartcam/infer"


@pytest.mark.parametrize(("labels_for", "problem"), [
    pytest.param({"digest": OTHER_DIGEST}, f"the signature is for {OTHER_DIGEST}, not for {DIGEST}",
                 id="another-digest"),
    pytest.param({"repository": "127.0.0.1:5000/smartcam/updater"},
                 "the signature is for repository smartcam/updater, not smartcam/infer", id="another-repository"),
    pytest.param({"namespace": MODEL_NAMESPACE}, "the signature does not match", id="model-signature-replayed"),
])
def test_a_signature_for_something_else_is_refused(release_signer, labels_for, problem):
    with pytest.raises(SignatureError, match=problem):
        check_image(signed_labels(release_signer, **labels_for), REPOSITORY, DIGEST, release_signer.allowed_signers)


def test_an_untrusted_key_is_refused(release_signer, stranger_signer):
    with pytest.raises(SignatureError, match=r"not signed by a key .* trusts for smartcam-image"):
        check_image(signed_labels(stranger_signer), REPOSITORY, DIGEST, release_signer.allowed_signers)


def test_a_payload_changed_after_signing_is_refused(release_signer):
    labels = signed_labels(release_signer)
    forged = image_labels(image_payload(REPOSITORY, OTHER_DIGEST), b"")
    with pytest.raises(SignatureError, match="does not match"):
        check_image({**labels, PAYLOAD_LABEL: forged[PAYLOAD_LABEL]}, REPOSITORY, OTHER_DIGEST,
                    release_signer.allowed_signers)


@pytest.mark.parametrize(("labels", "problem"), [
    pytest.param({}, "has no dev.smartcam.signature.payload label", id="no-labels"),
    pytest.param({PAYLOAD_LABEL: "!!", "dev.smartcam.signature.ssh": "eA=="}, "not base64", id="not-base64"),
    pytest.param(image_labels(b"{}", b""), "the signature is empty", id="empty-signature"),
    pytest.param(image_labels(b"{}", b"x" * 9000), "over 8192 bytes", id="huge-signature"),
    pytest.param(image_labels(b"{}", b"-----BEGIN SSH SIGNATURE-----\ngarbage\n-----END SSH SIGNATURE-----\n"),
                 "not signed by a key", id="garbage-signature"),
])
def test_a_malformed_signature_image_is_refused_with_its_reason(release_signer, labels, problem):
    with pytest.raises(SignatureError, match=problem):
        check_image(labels, REPOSITORY, DIGEST, release_signer.allowed_signers)


def test_a_signed_payload_that_is_not_an_image_payload_is_refused(release_signer):
    payload = b'{"critical": {"type": "something else"}}'
    with pytest.raises(SignatureError, match="not a simple-signing payload"):
        check_image(image_labels(payload, release_signer.sign(payload, IMAGE_NAMESPACE)), REPOSITORY, DIGEST,
                    release_signer.allowed_signers)


def test_without_the_allowed_signers_file_nothing_passes_and_the_fix_is_named(release_signer, tmp_path):
    with pytest.raises(SignatureError, match=r"no allowed signers file at .*SMARTCAM_RELEASE_SIGNERS.*postinstall"):
        check_image(signed_labels(release_signer), REPOSITORY, DIGEST, tmp_path / "missing")


def test_model_manifest_signature_as_ssh_keygen_writes_it(release_signer, tmp_path):
    manifest = tmp_path / "manifest.json"
    manifest.write_bytes(b'{"name": "m"}')
    signature = release_signer.sign_file(manifest).read_bytes()
    assert verify(manifest.read_bytes(), signature, MODEL_NAMESPACE, release_signer.allowed_signers) == (
        "smartcam-release")
    with pytest.raises(SignatureError, match="does not match"):
        verify(b'{"name": "n"}', signature, MODEL_NAMESPACE, release_signer.allowed_signers)


def test_cosign_tag_convention():
    assert signature_tag(DIGEST) == f"sha256-{'a' * 64}.sig"


def test_the_repository_key_may_sign_images_and_model_manifests():
    """Devices trust host/keys/allowed_signers (installed by postinstall): it must name both namespaces."""
    line = (ROOT / "host/keys/allowed_signers").read_text().split("\n")[0]
    namespaces = line.split('namespaces="')[1].split('"')[0].split(",")
    assert {"git", IMAGE_NAMESPACE, MODEL_NAMESPACE} <= set(namespaces)


def test_a_new_updater_image_without_ssh_keygen_fails_its_self_test(monkeypatch, tmp_path, capsys):
    """Handing over to an updater that cannot verify signatures would stop every later update."""
    assert self_test() == 0
    monkeypatch.setenv("PATH", str(tmp_path))
    assert self_test() == 1
    assert "ssh-keygen is missing (install openssh-client)" in capsys.readouterr().out
