"""`python -m smartcam.uploader` runs the service."""

import sys

from smartcam.uploader.main import main

sys.exit(main())
