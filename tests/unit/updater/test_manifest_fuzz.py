"""Fuzz pass over the remote model manifest parser: any bytes give a model or ManifestInvalid, nothing else."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartcam.updater.models.errors import ManifestInvalid
from smartcam.updater.models.remote import parse_manifest

URL = "https://models.example.com/devrelease/manifest.json"
KEYS = ("name", "sha256", "size_bytes", "model_file", "url", "decoder", "input", "labels", "labels_from",
        "thresholds", "decoder_options")
VALID = {"name": "blazeface", "sha256": "ab" * 32, "size_bytes": 1000, "model_file": "model.tflite",
         "url": "model.tflite", "decoder": "blazeface", "input": {}, "labels": [{"name": "face"}], "thresholds": {}}
values = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=80)
          | st.lists(st.text(max_size=8)) | st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3))


def _parsed_or_rejected(data: bytes) -> None:
    message = URL
    try:
        parse_manifest(data, URL)
    except ManifestInvalid as error:
        message = str(error)
    assert URL in message  # a rejection names the manifest to fix


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_arbitrary_bytes_give_a_model_or_a_named_rejection(data):
    _parsed_or_rejected(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=10), values, max_size=10))
def test_hostile_field_values_give_a_model_or_a_named_rejection(changes):
    # A plausible manifest with some fields replaced by hostile values (or extra fields added).
    _parsed_or_rejected(json.dumps({**VALID, **changes}).encode())
