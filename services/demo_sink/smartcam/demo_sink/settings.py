"""Demo sink settings (SMARTCAM_DEMO_SINK_*)."""

from pathlib import Path

from smartcam.common.settings import CommonSettings


class DemoSinkSettings(CommonSettings):
    demo_sink_port: int = 8000
    demo_sink_dir: Path = Path("/var/lib/smartcam/events")
