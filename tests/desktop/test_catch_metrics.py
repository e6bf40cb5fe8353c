"""The catch flow in the app's metrics: each classification the Catch panel shows is counted
by status and review flag, with the time of its read and classify stages and its calibrated
top-1 confidence; each catch recorded is counted by whether it was confirmed on the spot.

The window (offscreen), the classifier (the default pack, on the CPU), the store and the
metrics endpoint are real, scraped over HTTP as Prometheus would; only the file dialog is
replaced.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import numpy as np
import pytest

from desktop.app import MainWindow
from desktop.catch import classify_catch
from desktop.catch_photo import read_catch_photo
from sync.client.metrics import METRICS_PORT_ENV
from sync.store.key_sources import PASSPHRASE_ENV
from tests.desktop.conftest import PASSPHRASE
from tests.desktop.test_catch import BELOW_REVIEW, CONFIDENT, side_by_side, write_image
from tests.desktop.test_catch_panel import (
    Rig,
    catch_of,
    classify_boxes,
    drag_over,
    record,
)
from tests.desktop.test_metrics import Samples, free_port, scrape, value

pytestmark = pytest.mark.needs_shared
CLASSIFIED = "jaga_catch_classifications_total"
RECORDS = "jaga_catch_records_total"
STAGES = "jaga_catch_stage_duration_seconds"
CONFIDENCE = "jaga_catch_top_confidence"


@pytest.fixture
def rig(species_rig: Rig) -> Rig:
    return species_rig


@contextlib.contextmanager
def metered_window(rig: Rig) -> Iterator[tuple[MainWindow, int]]:
    port = free_port()
    window = rig.open(env={PASSPHRASE_ENV: PASSPHRASE, METRICS_PORT_ENV: str(port)})
    try:
        yield window, port
    finally:
        window.close()


def total(samples: Samples, name: str) -> float:
    """A series summed over all its labels."""
    return sum(v for (sample, _labels), v in samples.items() if sample == name)


def buckets(samples: Samples, name: str) -> dict[float, float]:
    """A histogram's cumulative buckets by upper bound (``+Inf`` included)."""
    found = {}
    for (sample, labels), count in samples.items():
        if sample == f"{name}_bucket":
            found[float(dict(labels)["le"])] = count
    return found


def test_a_classification_and_a_record_each_count_once_with_the_shown_confidence(
    rig: Rig,
) -> None:
    with metered_window(rig) as (window, port):
        panel = catch_of(window).panel
        panel.officer.setText("Ana Lima")
        before = scrape(port)
        started = time.perf_counter()
        rig.open_photo(window, CONFIDENT)
        waited_s = time.perf_counter() - started
        classified = scrape(port)
        assert record(window).startswith("recorded ")
        recorded = scrape(port)
        shown = panel.confidence.text()
    assert total(before, CLASSIFIED) == total(before, RECORDS) == 0
    assert value(before, f"{CONFIDENCE}_count") == 0
    assert value(before, CLASSIFIED, status="identified", needs_review="false") == 0

    # One classification: counted once, under its status and flag, timed per stage.
    assert total(classified, CLASSIFIED) == 1
    assert value(classified, CLASSIFIED, status="identified", needs_review="false") == 1
    for stage in ("read", "classify"):
        assert value(classified, f"{STAGES}_count", stage=stage) == 1
    classify_s = value(classified, f"{STAGES}_sum", stage="classify") or 0.0
    assert 0 < classify_s < waited_s  # the classifier call, within what the test waited
    assert (value(classified, f"{STAGES}_sum", stage="read") or 0.0) > 0

    # Its confidence: one observation whose sum is the confidence the panel shows.
    assert value(classified, f"{CONFIDENCE}_count") == 1
    confidence = value(classified, f"{CONFIDENCE}_sum")
    assert confidence is not None and shown == f"{confidence * 100:.1f} % (calibrated)"
    (expected,) = rig.classifier.classify_files([rig.f4k / CONFIDENT])
    assert confidence == pytest.approx(expected.confidence, abs=1e-6)
    for bound, count in buckets(classified, CONFIDENCE).items():
        assert count == (1 if confidence <= bound else 0), bound

    # One record, not confirmed on the spot; recording classifies nothing again.
    assert total(recorded, RECORDS) == 1
    assert value(recorded, RECORDS, confirmed="false") == 1
    assert total(recorded, CLASSIFIED) == 1 and value(recorded, f"{CONFIDENCE}_count") == 1


def test_no_fish_has_no_confidence_a_corrupt_photo_no_count_and_a_confirmed_record_counts(
    rig: Rig,
) -> None:
    blank = write_image(rig.scratch / "deck.png", np.full((120, 160, 3), 90, dtype=np.uint8))
    corrupt = rig.scratch / "fish.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(300))
    with metered_window(rig) as (window, port):
        panel = catch_of(window).panel
        panel.officer.setText("Ana Lima")
        rig.open_photo(window, blank)
        assert panel.status.text().startswith("no fish")
        no_fish = scrape(port)
        rig.open_photo(window, corrupt)
        assert "not a readable image" in panel.status.text()
        after_corrupt = scrape(port)
        rig.open_photo(window, BELOW_REVIEW)
        panel.confirmed.setCurrentIndex(0)  # the officer confirms the best candidate
        shown = panel.confidence.text()
        assert record(window).startswith("recorded and confirmed ")
        confirmed = scrape(port)
    assert value(no_fish, CLASSIFIED, status="no_fish", needs_review="true") == 1
    assert total(no_fish, CLASSIFIED) == 1
    assert value(no_fish, f"{CONFIDENCE}_count") == 0  # no candidate: nothing to drift
    assert value(no_fish, f"{STAGES}_count", stage="classify") == 1
    assert catch_series(after_corrupt) == catch_series(no_fish)  # never read, never classified

    assert value(confirmed, CLASSIFIED, status="identified", needs_review="true") == 1
    assert total(confirmed, CLASSIFIED) == 2
    assert value(confirmed, f"{CONFIDENCE}_count") == 1
    confidence = value(confirmed, f"{CONFIDENCE}_sum") or 0.0
    assert shown == f"{confidence * 100:.1f} % (calibrated)"
    assert value(confirmed, RECORDS, confirmed="true") == 1
    assert value(confirmed, RECORDS, confirmed="false") == 0


def catch_series(samples: Samples) -> Samples:
    return {key: v for key, v in samples.items() if key[0].startswith("jaga_catch_")}


def test_a_photos_boxes_are_one_classify_stage_and_one_count_per_fish(rig: Rig) -> None:
    path, true_boxes = side_by_side(rig.f4k, rig.scratch, CONFIDENT, BELOW_REVIEW)
    with metered_window(rig) as (window, port):
        catch_of(window).panel.officer.setText("Ana Lima")
        rig.open_photo(window, path)  # the whole photo, classified on opening
        opened = scrape(port)
        boxes = [drag_over(window, fish) for fish in true_boxes]
        classify_boxes(window)
        boxed = scrape(port)
    expected = [
        fish.prediction for fish in classify_catch(rig.classifier, read_catch_photo(path), boxes)
    ]
    assert total(boxed, CLASSIFIED) - total(opened, CLASSIFIED) == 2
    assert value(boxed, f"{STAGES}_count", stage="classify") == 2  # opening, then one batch
    assert value(boxed, f"{STAGES}_count", stage="read") == 1  # the boxes read nothing again
    added = (value(boxed, f"{CONFIDENCE}_sum") or 0.0) - (value(opened, f"{CONFIDENCE}_sum") or 0.0)
    assert added == pytest.approx(sum(p.confidence for p in expected), abs=1e-6)
