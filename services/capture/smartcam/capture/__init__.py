"""The capture service: frames from a camera (or replayed photos) plus where they were taken."""
