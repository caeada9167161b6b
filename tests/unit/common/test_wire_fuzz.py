"""Fuzz pass over the wire decoder: whatever a peer sends, decode returns a message or raises WireError."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartcam.common.wire import MAGIC_KEY, SCHEMA_VERSION, WireError, decode

FIELDS = ("type", "camera_id", "event_id", "seq", "captured_at", "location", "parts", "detections", "model",
          "sample", "stored", "reason", "content_type")
TYPES = ("frame", "event", "ack", "frame_request", "other")
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12)


def _decoded_or_rejected(parts: list[bytes]) -> None:
    kind = None
    try:
        decode(parts)
    except WireError as error:
        kind = error.kind
        assert kind, "every rejection has a stable kind the receiver counts"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=200), max_size=4))
def test_arbitrary_bytes_never_raise_anything_but_wire_errors(parts):
    _decoded_or_rejected(parts)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(TYPES), st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=len(FIELDS)),
       st.lists(st.binary(max_size=64), max_size=3))
def test_headers_with_hostile_field_values_never_raise_anything_but_wire_errors(message_type, fields, payloads):
    header = {MAGIC_KEY: SCHEMA_VERSION, "type": message_type, **fields}
    try:
        raw = json.dumps(header, allow_nan=True).encode()
    except (TypeError, ValueError):
        return
    _decoded_or_rejected([raw, *payloads])
