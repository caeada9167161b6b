"""`python -m smartcam.updater` runs the service; what it does is in smartcam.updater.main."""

import sys

from smartcam.updater.main import main

if __name__ == "__main__":
    sys.exit(main())
