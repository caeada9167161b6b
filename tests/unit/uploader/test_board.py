"""The board's state for the heartbeat, read from files laid out as /sys lays them out (thermal, Pi firmware)."""

import logging

import pytest

from smartcam.common.counters import Counters
from smartcam.common.logs import OncePerKind
from smartcam.uploader.board import (
    STA_PLL,
    STA_PPSTIME,
    STA_UNSYNC,
    TIME_ERROR,
    BoardPaths,
    BoardReader,
    clock_state_from,
    decode_throttled,
    read_clock_state,
)


@pytest.fixture
def board(tmp_path, logger):
    thermal, throttled = tmp_path / "thermal", tmp_path / "get_throttled"
    thermal.mkdir()
    counters = Counters()
    reader = BoardReader(OncePerKind(logger, counters, "heartbeat"), BoardPaths(thermal, throttled),
                         clock_state=lambda: None)
    return reader, thermal, throttled, counters


def zone(thermal, n, kind, temp):
    folder = thermal / f"thermal_zone{n}"
    folder.mkdir()
    (folder / "type").write_text(kind + "\n")
    (folder / "temp").write_text(temp)
    return folder


def test_the_cpu_zone_is_read_before_the_first_and_absent_files_are_null(board):
    reader, thermal, _, _ = board
    assert reader.read().model_dump() == {"soc_temperature_c": None, "thermal_zone": None, "throttling": None,
                                          "clock": None}
    zone(thermal, 0, "acpitz", "30000\n")
    zone(thermal, 1, "cpu-thermal", "51540\n")
    platform = reader.read()
    assert (platform.thermal_zone, platform.soc_temperature_c) == ("cpu-thermal", 51.5)


def test_without_a_cpu_zone_the_first_is_read(board):
    reader, thermal, _, _ = board
    zone(thermal, 1, "battery", "20000")
    zone(thermal, 0, "acpitz", "42000")
    assert (reader.read().thermal_zone, reader.read().soc_temperature_c) == ("acpitz", 42.0)


@pytest.mark.parametrize("content", ["hot\n", "", "99999999999", "\xff\xfe"])
def test_a_garbage_thermal_file_is_null_with_one_warning(board, caplog, content):
    reader, thermal, _, counters = board
    zone(thermal, 0, "cpu-thermal", "0").joinpath("temp").write_bytes(content.encode("latin-1"))
    with caplog.at_level(logging.WARNING):
        assert reader.read().soc_temperature_c is None
        assert reader.read().soc_temperature_c is None
    warnings = [r for r in caplog.records if "temperature" in r.getMessage()]
    assert len(warnings) == 1
    assert "thermal_zone0/temp" in warnings[0].getMessage()
    assert counters.snapshot()["heartbeat.thermal"] == 2


def test_an_unreadable_thermal_file_is_null_with_one_warning(board, caplog):
    reader, thermal, _, _ = board
    folder = zone(thermal, 0, "cpu-thermal", "0")
    (folder / "temp").unlink()
    (folder / "temp").mkdir()  # reading a directory fails as an unreadable file does, even as root
    with caplog.at_level(logging.WARNING):
        assert reader.read().soc_temperature_c is None
        assert reader.read().soc_temperature_c is None
    assert len([r for r in caplog.records if "temperature" in r.getMessage()]) == 1


@pytest.mark.parametrize(("raw", "on"), [
    (0x0, set()),
    (0x50005, {"under_voltage", "throttled", "under_voltage_since_boot", "throttled_since_boot"}),
    (0x80000, {"soft_temperature_limit_since_boot"}),
    (0xF000F, {"under_voltage", "frequency_capped", "throttled", "soft_temperature_limit",
               "under_voltage_since_boot", "frequency_capped_since_boot", "throttled_since_boot",
               "soft_temperature_limit_since_boot"}),
])
def test_throttled_bits_are_named(raw, on):
    flags = decode_throttled(raw).model_dump()
    assert flags.pop("raw") == raw
    assert {name for name, value in flags.items() if value} == on


@pytest.mark.parametrize("text", ["0x50005\n", "50005", "throttled=0x50005\n"])
def test_the_firmware_file_and_vcgencmd_forms_are_read(board, text):
    reader, _, throttled, _ = board
    throttled.write_text(text)
    throttling = reader.read().throttling
    assert throttling is not None
    assert (throttling.raw, throttling.under_voltage, throttling.frequency_capped) == (0x50005, True, False)


def test_a_garbage_throttled_file_is_null_with_one_warning(board, caplog):
    reader, _, throttled, _ = board
    throttled.write_text("not hex")
    with caplog.at_level(logging.WARNING):
        assert reader.read().throttling is None
        assert reader.read().throttling is None
    assert len([r for r in caplog.records if "throttling" in r.getMessage()]) == 1


@pytest.mark.parametrize(("status", "state", "synchronised", "source"), [
    (STA_PLL, 0, True, "ntp"),
    (0, 0, True, "ntp"),
    (STA_UNSYNC, 0, False, None),
    (STA_PLL | STA_UNSYNC, TIME_ERROR, False, "ntp"),
    (STA_PLL, TIME_ERROR, False, "ntp"),
    (STA_PPSTIME | STA_PLL, 0, True, "pps"),
])
def test_clock_state_from_the_kernel_status(status, state, synchronised, source):
    clock = clock_state_from(status, state, 250_000)
    assert (clock.synchronised, clock.source, clock.max_error_s) == (synchronised, source, 0.25)


def test_the_real_kernel_clock_is_read_unprivileged():
    clock = read_clock_state()
    assert clock is not None  # Linux: adjtimex with modes=0 needs no privilege
    assert clock.max_error_s is not None
    assert clock.max_error_s >= 0
