"""Decoders turn raw output tensors into detections; the manifest's `decoder` names one of these."""

from __future__ import annotations

from smartcam.infer.decoders.base import Decoder, DecoderMismatchError, RawDetections
from smartcam.infer.decoders.blazeface import BlazeFaceDecoder
from smartcam.infer.decoders.ssd import SsdPostprocessDecoder

DECODERS: dict[str, type[Decoder]] = {
    decoder.name: decoder for decoder in (BlazeFaceDecoder, SsdPostprocessDecoder)
}

__all__ = ["DECODERS", "Decoder", "DecoderMismatchError", "RawDetections"]
