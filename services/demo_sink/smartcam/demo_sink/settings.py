"""Demo sink settings (SMARTCAM_DEMO_SINK_*)."""

from pathlib import Path

from pydantic import Field

from smartcam.common.settings import CommonSettings, Scope, scope


class DemoSinkSettings(CommonSettings):
    demo_sink_port: int = Field(8000, ge=1, le=65535, json_schema_extra=scope(Scope.WIRED),
                                description="Port the demo sink listens on (`SMARTCAM_DEMO_SINK_URL` points at it).")
    demo_sink_dir: Path = Field(Path("/var/lib/smartcam/events"), json_schema_extra=scope(Scope.INTERNAL),
                                description="Where the demo sink saves events (volume `demo-events`).")
