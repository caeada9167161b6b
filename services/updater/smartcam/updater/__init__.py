"""Keeps the device's images and model current on its channel (update engine: see the updater issue)."""
