"""The uploader service: stores events from infer durably, then delivers them to a REST endpoint.

Store-and-forward: an event is acknowledged to infer only once it is on disk (see `queue`), and
leaves the disk only once the target has answered 2xx (see `delivery`), was dead-lettered, or was
evicted under the disk budget with the reason counted; a full disk refuses new events but never
wedges the queue (`space`). `heartbeat` tells the owners how the device is; `status` (the
`smartcam status` command) prints the ledger.
"""
