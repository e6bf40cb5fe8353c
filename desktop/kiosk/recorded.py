"""Which final decisions a kiosk records as access events: those about a face presented to it.

Apart from ``desktop.kiosk.session`` because it is a rule about a decision alone, which the
session applies to each track once and the kiosk's metrics count by (``RECORDED``).
Every final decision (``verified``, ``not_matched``, ``spoof_detected``, ``low_quality``) is
recorded but these; what is not recorded, and why:

* ``challenge_required`` is not final: the track's answer to the challenge is recorded (a
  track that ends, or a stream that stops, before the challenge was taken failed it:
  ``spoof_detected``);
* ``no_face_detected`` and ``multiple_faces`` describe a frame, thirty times a second: they
  are shown to the person, not kept;
* ``low_quality`` of a face too small to check: none of its frames accepted, and too small
  the main reason (the first, besides a cut-off attempt's ``too_brief``). Nobody presented
  it to the kiosk: these are faces far behind the person at the kiosk, or false detections
  in the background (on NUAA's webcam session, three such 21-32 px tracks came and went
  behind the one person). A face refused mostly for another reason (moving: ``blurry``)
  with a frame too small among them stood at the kiosk, and is recorded.
"""

from __future__ import annotations

from inference.face.decide import Decision, Status
from inference.face.types import QualityReason

RECORDED = (Status.VERIFIED, Status.NOT_MATCHED, Status.SPOOF_DETECTED, Status.LOW_QUALITY)


def presented(decision: Decision) -> bool:
    """A final decision about a face someone presented to the kiosk (see the module): one
    the session records."""
    if decision.status is Status.LOW_QUALITY:
        return not _too_small_to_check(decision)
    return decision.status in RECORDED


def _too_small_to_check(decision: Decision) -> bool:
    """No frame accepted, and too small the main reason: the first of the gate's reasons
    (most frequent first), after the ``too_brief`` of an attempt cut off. Any frame too
    small among others refused for another reason is no sign of a face far away."""
    gate = [reason for reason in decision.reasons if reason is not QualityReason.TOO_BRIEF]
    return decision.frames == 0 and gate[:1] == [QualityReason.TOO_SMALL]
