"""Model updates: fetch the channel's model manifest, download and verify a changed model, hand it to infer.

The updater never loads a model itself. It stages a verified copy in the volume it shares with infer
and publishes it as a *candidate*; infer loads it, tries it on a real frame, switches or refuses, and
writes its verdict into its own small state volume; the updater records that verdict in the history.
Call `ModelUpdater.step()` from the updater's main loop.
"""

from smartcam.updater.models.updater import ModelUpdater

__all__ = ["ModelUpdater"]
