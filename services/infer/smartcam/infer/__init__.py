"""The infer service: on-device detection, selection of frames worth uploading, and privacy blurring."""
