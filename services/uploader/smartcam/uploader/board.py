"""The board's own state for the heartbeat: SoC temperature, Raspberry Pi throttling, clock synchronisation.

Every reading is optional: absent hardware is `None` (a desk machine has no Pi firmware), a file
that is unreadable or holds garbage is `None` plus one warning per kind, never an exception, so
the heartbeat always goes out. The paths are parameters (`BoardPaths`) so tests point them at
temp files; the defaults are the real ones (containers share the host's /sys read-only).
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from smartcam.common.contracts.heartbeat import ClockState, Platform, Throttling
from smartcam.common.logs import OncePerKind

THERMAL_ROOT = Path("/sys/class/thermal")
THROTTLED_FILE = Path("/sys/devices/platform/soc/soc:firmware/get_throttled")
SOC_ZONE_WORDS = ("cpu", "soc")
MAX_READ_BYTES = 64

# adjtimex(2) status bits (linux/timex.h).
STA_PLL = 0x0001
STA_PPSFREQ = 0x0002
STA_PPSTIME = 0x0004
STA_UNSYNC = 0x0040
TIME_ERROR = 5

# get_throttled bits: (bit, field name).
THROTTLE_BITS = (
    (0, "under_voltage"), (1, "frequency_capped"), (2, "throttled"), (3, "soft_temperature_limit"),
    (16, "under_voltage_since_boot"), (17, "frequency_capped_since_boot"), (18, "throttled_since_boot"),
    (19, "soft_temperature_limit_since_boot"),
)


@dataclass(frozen=True)
class BoardPaths:
    thermal_root: Path = THERMAL_ROOT
    throttled_file: Path = THROTTLED_FILE


class BoardReader:
    """Reads `Platform` for each heartbeat; a bad file warns once per kind (then is only counted)."""

    def __init__(self, trouble: OncePerKind, paths: BoardPaths | None = None,
                 clock_state: Callable[[], ClockState | None] | None = None) -> None:
        self._trouble = trouble
        self._paths = paths or BoardPaths()
        self._clock_state = clock_state or read_clock_state

    def read(self) -> Platform:
        zone, temperature = self._soc_temperature()
        return Platform(soc_temperature_c=temperature, thermal_zone=zone, throttling=self._throttling(),
                        clock=self._clock_state())

    def _soc_temperature(self) -> tuple[str | None, float | None]:
        """The zone whose type names the CPU/SoC, else the first zone; (None, None) without any."""
        try:
            zones = sorted(self._paths.thermal_root.glob("thermal_zone*"))
        except OSError:
            return None, None
        if not zones:
            return None, None
        typed = [(zone, self._small_text(zone / "type")) for zone in zones]
        chosen, kind = next(((zone, kind) for zone, kind in typed
                             if kind and any(word in kind.lower() for word in SOC_ZONE_WORDS)), typed[0])
        name = kind or chosen.name
        text = self._small_text(chosen / "temp")
        try:
            millidegrees = int(text) if text is not None else None
        except ValueError:
            millidegrees = None
        if millidegrees is None or not -100_000 <= millidegrees <= 200_000:
            self._trouble.report("thermal", f"cannot read a temperature from {chosen / 'temp'} ({text!r:.40}); "
                                            "the heartbeat reports it as null")
            return name, None
        return name, round(millidegrees / 1000, 1)

    def _throttling(self) -> Throttling | None:
        path = self._paths.throttled_file
        if not path.exists():
            return None  # not a Raspberry Pi (or its firmware node is not exposed): absent, not a problem
        text = self._small_text(path)
        try:
            raw = int(text.removeprefix("throttled="), 16) if text is not None else None
        except ValueError:
            raw = None
        if raw is None or raw < 0:
            self._trouble.report("throttled", f"cannot read the throttling flags from {path} ({text!r:.40}); "
                                              "the heartbeat reports them as null")
            return None
        return decode_throttled(raw)

    @staticmethod
    def _small_text(path: Path) -> str | None:
        try:
            with path.open("rb") as file:
                return file.read(MAX_READ_BYTES).decode("ascii").strip()
        except (OSError, UnicodeDecodeError):
            return None


def decode_throttled(raw: int) -> Throttling:
    """Name the firmware's bits (https://www.raspberrypi.com/documentation/computers/os.html#get_throttled)."""
    flags = {name: bool(raw >> bit & 1) for bit, name in THROTTLE_BITS}
    return Throttling(raw=raw, **flags)


class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class _Timex(ctypes.Structure):
    """struct timex (linux/timex.h); the trailing padding covers the reserved fields."""

    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
                ("constant", ctypes.c_long), ("precision", ctypes.c_long), ("tolerance", ctypes.c_long),
                ("time", _Timeval), ("tick", ctypes.c_long), ("ppsfreq", ctypes.c_long),
                ("jitter", ctypes.c_long), ("shift", ctypes.c_int), ("stabil", ctypes.c_long),
                ("jitcnt", ctypes.c_long), ("calcnt", ctypes.c_long), ("errcnt", ctypes.c_long),
                ("stbcnt", ctypes.c_long), ("tai", ctypes.c_int), ("_reserved", ctypes.c_int * 16)]


def read_clock_state() -> ClockState | None:
    """adjtimex with modes=0 only reads, so it works unprivileged in a container; None where unavailable."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        timex = _Timex()
        state = libc.adjtimex(ctypes.byref(timex))
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    return clock_state_from(timex.status, state, timex.maxerror)


def clock_state_from(status: int, state: int, max_error_us: int) -> ClockState:
    """The kernel's status bits and adjtimex's return value as a `ClockState`."""
    synchronised = not status & STA_UNSYNC and state != TIME_ERROR
    source: str | None = None
    if status & (STA_PPSFREQ | STA_PPSTIME):
        source = "pps"
    elif synchronised or status & STA_PLL:
        source = "ntp"
    return ClockState(synchronised=synchronised, source=source, max_error_s=round(max_error_us / 1e6, 6))
