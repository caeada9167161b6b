"""`python -m smartcam.infer` runs the service; what it does is in smartcam.infer.main."""

import sys

from smartcam.infer.main import main

if __name__ == "__main__":
    sys.exit(main())
