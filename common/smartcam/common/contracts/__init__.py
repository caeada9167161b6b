"""One pydantic model per document that crosses a container (or host/container) boundary.

Writer and readers of each document use the same model, so its fields are named and typed once:

- `history`: the updater's and the channel follower's `history.json`;
- `updater_state`: the updater's `state.json` (what each service runs), read by the uploader;
- `model_exchange`: the updater's `candidate.json` offer and infer's `model-state.json` answer;
- `cmds_status`: the host cmds service's `status.json`; `checkout_status`: the channel follower's;
- `pipeline_status`: capture's and infer's `status.json` (frame rates, drops, GPS, events), read by the uploader;
- `heartbeat` and `event`: what the uploader sends to the target (published as `docs/schemas/`);
- `wire_header`: the JSON header of every ZeroMQ message between capture, infer and the uploader.

Versioning rules are in `base` (files and the heartbeat) and `wire_header` (the ZeroMQ header). This package
imports nothing from the services, and nothing here is imported by `__init__`, so each user pulls in only
the documents it reads.
"""
