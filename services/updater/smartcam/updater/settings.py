"""Updater settings (SMARTCAM_*)."""

from smartcam.common.settings import CommonSettings


class UpdaterSettings(CommonSettings):
    version: str = "dev"  # SMARTCAM_VERSION, baked into each image at build time
    report_interval_s: float = 300.0
