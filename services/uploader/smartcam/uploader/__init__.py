"""The uploader service: stores events from infer durably, then delivers them to a REST endpoint.

Store-and-forward: an event is acknowledged to infer only once it is on disk (see `queue`), and
leaves the disk only once the target has answered 2xx (see `delivery`), was dead-lettered, or was
evicted under the disk budget with the reason counted. `status` prints the ledger.
"""
