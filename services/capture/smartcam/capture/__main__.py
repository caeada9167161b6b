"""Entry point: python -m smartcam.capture"""

import sys

from smartcam.capture.main import run
from smartcam.capture.settings import CaptureSettings
from smartcam.common.service import run_service

if __name__ == "__main__":
    sys.exit(run_service("capture", CaptureSettings, run))
