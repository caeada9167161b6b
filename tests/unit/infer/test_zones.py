"""Zones and masks: parsing with errors naming the setting, ignore zones, named zones, masks burned in."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from smartcam.common.wire import Detection, Event, ModelRef, WireError, decode, encode
from smartcam.infer.zones import Zones, parse_polygons

BOTTOM_HALF = "0,0.5 1,0.5 1,1 0,1"


def _detection(box, label="person") -> Detection:
    return Detection(label, 0.9, box)


def test_a_polygon_parses_into_points():
    (polygon,) = parse_polygons(BOTTOM_HALF, "SMARTCAM_IGNORE_ZONES", named=False)
    assert polygon.points == ((0.0, 0.5), (1.0, 0.5), (1.0, 1.0), (0.0, 1.0))
    road, gate = parse_polygons("road=" + BOTTOM_HALF + "; gate=0.7,0.1 0.9,0.1 0.8,0.4", "SMARTCAM_ZONES", named=True)
    assert (road.name, gate.name) == ("road", "gate")


@pytest.mark.parametrize(("text", "problem"), [
    ("0,0 1,0", "has 2 point(s); a polygon needs at least 3"),
    ("0,0 1.2,0 1,1", "outside 0-1"),
    ("0,0 -0.1,0.5 1,1", "outside 0-1"),
    ("0,0 1,1 1,0 0,1", "crosses itself"),  # a bow tie
    ("0,0 1;0 1,1", "not a list of x,y points"),
    ("0,0 x,1 1,1", "not a list of x,y points"),
])
def test_invalid_polygons_name_the_setting_the_polygon_and_the_problem(text, problem):
    with pytest.raises(ValueError, match="SMARTCAM_PRIVACY_MASKS polygon 1") as caught:
        parse_polygons(text, "SMARTCAM_PRIVACY_MASKS", named=False)
    assert problem in str(caught.value)


@pytest.mark.parametrize("text", ["0,0 1,0 1,1", "bad name=0,0 1,0 1,1", "a=0,0 1,0 1,1; a=0,0 1,0 0,1"])
def test_named_zones_need_one_plain_name_each(text):
    with pytest.raises(ValueError, match="SMARTCAM_ZONES"):
        parse_polygons(text, "SMARTCAM_ZONES", named=True)


def test_settings_refuse_an_invalid_polygon_naming_the_variable(monkeypatch):
    from smartcam.infer.settings import InferSettings  # noqa: PLC0415

    monkeypatch.setenv("SMARTCAM_IGNORE_ZONES", "0,0 1,1 1,0 0,1")
    with pytest.raises(ValueError, match=r"SMARTCAM_IGNORE_ZONES polygon 1 .* crosses itself"):
        InferSettings()


def test_an_ignore_zone_drops_what_stands_in_it_by_the_bottom_centre():
    zones = Zones(ignore=parse_polygons(BOTTOM_HALF, "SMARTCAM_IGNORE_ZONES", named=False))
    standing_in = _detection((0.4, 0.2, 0.6, 0.8))  # mostly above the zone, but its feet are in it
    standing_out = _detection((0.4, 0.6, 0.6, 0.3 + 0.1))  # bottom at y 0.4: outside
    hanging_over = _detection((0.1, 0.1, 0.3, 0.45))
    assert zones.apply([standing_in, standing_out, hanging_over]) == [standing_out, hanging_over]


def test_a_box_cut_by_the_image_edge_stands_in_a_zone_drawn_to_that_edge():
    zones = Zones(ignore=parse_polygons("0,0.9 1,0.9 1,1 0,1", "SMARTCAM_IGNORE_ZONES", named=False))
    assert zones.apply([_detection((0.0, 0.0, 1.0, 1.0))]) == []


def test_detections_carry_the_named_zones_they_stand_in():
    zones = Zones(named=parse_polygons("road=" + BOTTOM_HALF + "; left=0,0 0.5,0 0.5,1 0,1", "SMARTCAM_ZONES",
                                       named=True))
    (both, road_only, none) = zones.apply([_detection((0.1, 0.5, 0.3, 0.9)), _detection((0.6, 0.5, 0.9, 0.9)),
                                           _detection((0.6, 0.1, 0.9, 0.3))])
    assert both.zones == ("road", "left")
    assert road_only.zones == ("road",)
    assert none.zones == ()
    assert both.to_document().model_dump(mode="json")["zones"] == ["road", "left"]
    assert "zones" not in none.to_document().model_dump(mode="json")  # as the previous release sent it


def test_zones_cross_the_wire_and_bad_zone_names_are_refused():
    event = Event(event_id="e" * 32, camera_id="cam", seq=1, captured_at=datetime.now(UTC), location=None,
                  detections=[Detection("car", 0.8, (0.1, 0.2, 0.3, 0.4), ("road",))],
                  model=ModelRef("m", "0" * 64), sample=False, image=b"jpeg")
    parts = encode(event)
    assert decode(parts).detections[0].zones == ("road",)
    without = encode(replace(event, detections=[Detection("car", 0.8, (0.1, 0.2, 0.3, 0.4))]))
    assert b"zones" not in without[0]  # a header a reader of the previous release reads unchanged
    forged = [parts[0].replace(b'"zones":["road"]', b'"zones":["../etc"]'), *parts[1:]]
    assert forged[0] != parts[0]
    with pytest.raises(WireError):
        decode(forged)


def test_privacy_masks_are_filled_black_and_nothing_else_changes(load_photo):
    frame = load_photo("coffee.jpg")
    frame.flags.writeable = False
    zones = Zones(masks=parse_polygons("0,0 0.5,0 0.5,0.5 0,0.5", "SMARTCAM_PRIVACY_MASKS", named=False))
    masked = zones.burn_masks(frame)
    height, width = frame.shape[:2]
    assert (masked[: height // 2 - 1, : width // 2 - 1] == 0).all()
    assert np.array_equal(masked[height // 2 + 1:], frame[height // 2 + 1:])
    assert np.array_equal(masked[:, width // 2 + 1:], frame[:, width // 2 + 1:])
    assert Zones().burn_masks(frame) is frame


def test_a_triangle_mask_follows_its_diagonal():
    frame = np.full((100, 100, 3), 255, np.uint8)
    masked = Zones(masks=parse_polygons("0,0 1,0 0,1", "SMARTCAM_PRIVACY_MASKS", named=False)).burn_masks(frame)
    assert (masked[10, 10] == 0).all()  # above the diagonal x + y = 1
    assert (masked[90, 90] == 255).all()  # below it
