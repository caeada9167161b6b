"""Decoders turn raw output tensors into detections; the manifest's `decoder` names one of these."""

from __future__ import annotations

from smartcam.infer.decoders.base import Decoder, DecoderMismatchError, RawDetections
from smartcam.infer.decoders.blazeface import BlazeFaceDecoder
from smartcam.infer.decoders.ssd import SsdPostprocessDecoder
from smartcam.infer.decoders.ssd_anchors import SsdAnchorsDecoder

DECODERS: dict[str, type[Decoder]] = {
    decoder.name: decoder for decoder in (BlazeFaceDecoder, SsdPostprocessDecoder, SsdAnchorsDecoder)
}

__all__ = ["DECODERS", "Decoder", "DecoderMismatchError", "RawDetections"]
