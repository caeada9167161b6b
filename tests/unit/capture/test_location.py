import threading

from smartcam.capture.location import FixedLocation, NoLocation, open_location
from smartcam.common.counters import Counters
from smartcam.common.wire import Location


def test_no_location_by_default(make_settings):
    provider = open_location(make_settings(), Counters())
    assert isinstance(provider, NoLocation)
    assert provider.current() is None


def test_fixed_location_is_given_for_every_frame_without_a_thread(make_settings):
    threads_before = threading.active_count()
    provider = open_location(make_settings(location="fixed:47.3769,8.5417"), Counters())
    assert isinstance(provider, FixedLocation)
    assert provider.current() == Location(47.3769, 8.5417)
    assert provider.current() == Location(47.3769, 8.5417)
    assert threading.active_count() == threads_before
    provider.close()


def test_an_absent_gps_never_stalls_or_fails_the_caller(make_settings, tmp_path):
    counters = Counters()
    provider = open_location(make_settings(location=f"nmea:{tmp_path}/no-such-port"), counters)
    try:
        assert provider.current() is None  # returns at once; the reader keeps retrying in the background
        assert counters.get("location.no_fix") == 1
    finally:
        provider.close()
