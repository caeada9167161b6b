"""Code shared by every smartcam service: wire protocol, settings, logging, health.

`smartcam` itself is a namespace package: each service adds its own `smartcam.<service>`
sub-package next to this one, so images carry only what they run.
"""
