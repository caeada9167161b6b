"""`python -m smartcam.demo_sink` runs the service; what it does is in smartcam.demo_sink.main."""

import sys

from smartcam.demo_sink.main import main

if __name__ == "__main__":
    sys.exit(main())
