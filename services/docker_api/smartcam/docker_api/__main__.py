"""`python -m smartcam.docker_api` runs the service; what it does is in smartcam.docker_api.main."""

import sys

from smartcam.docker_api.main import main

if __name__ == "__main__":
    sys.exit(main())
