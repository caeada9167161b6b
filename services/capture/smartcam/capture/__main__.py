"""`python -m smartcam.capture` runs the service; what it does is in smartcam.capture.main."""

import sys

from smartcam.capture.main import main

if __name__ == "__main__":
    sys.exit(main())
