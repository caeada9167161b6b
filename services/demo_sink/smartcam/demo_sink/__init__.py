"""A stand-in REST target for new users: shows what the camera would upload."""
