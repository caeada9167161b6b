"""`python -m smartcam.uploader` runs the service; what it does is in smartcam.uploader.main."""

import sys

from smartcam.uploader.main import main

if __name__ == "__main__":
    sys.exit(main())
