"""Entry point: python -m smartcam.infer"""

import sys

from smartcam.common.service import run_service
from smartcam.infer.main import run
from smartcam.infer.settings import InferSettings

if __name__ == "__main__":
    sys.exit(run_service("infer", InferSettings, run))
