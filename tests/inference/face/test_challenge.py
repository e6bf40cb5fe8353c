"""The active challenge's state machine, fed synthetic FaceMesh landmarks.

A :class:`SyntheticMesh` places the points the challenge reads (eye contours, nose tip,
cheeks, forehead, chin) on a 200x200 face; the rest of the 468 points stay at the centre.
A blink is an eye-aspect-ratio dip, a turn a move of the nose between the cheeks. Frames
are flat grey unless a test draws eyes, so only landmarks speak unless it does.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from inference.face.challenge import (
    ChallengeAction,
    ChallengeSession,
    ChallengeSettings,
    ChallengeStatus,
    FailureReason,
    draw_actions,
)
from inference.face.landmarks import MESH_POINTS, FaceMesh, MeshPoint
from inference.face.liveness_signals import eye_aspect_ratio, face_aspect, yaw_ratio
from inference.face.types import FaceBox, TrackedFace

Image = npt.NDArray[np.uint8]
FPS = 10.0
OPEN_LID = 3.0  # half the lid gap: eye aspect ratio 0.3 with 20-px-wide eyes
EYE_Y = 90.0


@dataclass(frozen=True)
class Pose:
    """What one synthetic frame shows."""

    lid: float = OPEN_LID
    yaw: float = 0.0
    squash: float = 1.0  # vertical scale of the whole face (a photo tilted back)
    flag: float = 1.0


def mesh_points(pose: Pose) -> npt.NDArray[np.float32]:
    points = np.tile(np.array([100.0, 100.0, 0.0], np.float32), (MESH_POINTS, 1))

    def put(index: MeshPoint, x: float, y: float) -> None:
        points[index] = (x, 100.0 + (y - 100.0) * pose.squash, 0.0)

    for outer, inner, sign in ((70.0, 90.0, 1.0), (130.0, 110.0, -1.0)):
        names = ("RIGHT" if sign > 0 else "LEFT", outer, inner)
        side, corner_out, corner_in = names
        put(MeshPoint[f"{side}_EYE_OUTER"], corner_out, EYE_Y)
        put(MeshPoint[f"{side}_EYE_INNER"], corner_in, EYE_Y)
        near_out, near_in = corner_out + sign * 6, corner_in - sign * 6
        put(MeshPoint[f"{side}_EYE_UPPER_OUTER"], near_out, EYE_Y - pose.lid)
        put(MeshPoint[f"{side}_EYE_LOWER_OUTER"], near_out, EYE_Y + pose.lid)
        put(MeshPoint[f"{side}_EYE_UPPER_INNER"], near_in, EYE_Y - pose.lid)
        put(MeshPoint[f"{side}_EYE_LOWER_INNER"], near_in, EYE_Y + pose.lid)
    put(MeshPoint.RIGHT_CHEEK, 70.0, 100.0)
    put(MeshPoint.LEFT_CHEEK, 130.0, 100.0)
    put(MeshPoint.NOSE_TIP, 100.0 + 60.0 * pose.yaw, 110.0)
    put(MeshPoint.FOREHEAD, 100.0, 50.0)
    put(MeshPoint.CHIN, 100.0, 160.0)
    return points


class SyntheticMesh:
    """A mesh source that plays the poses it is given, one per call."""

    def __init__(self, poses: list[Pose]) -> None:
        self._poses: Iterator[Pose] = iter(poses)

    def mesh(self, image: npt.NDArray[np.generic], face: FaceBox) -> FaceMesh:
        pose = next(self._poses)
        return FaceMesh(mesh_points(pose), pose.flag, pose.flag >= 0.5)


FACE = FaceBox(50, 40, 150, 170, 0.9, ((80, 90), (120, 90), (100, 110), (85, 140), (115, 140)))
GREY: Image = np.full((200, 200, 3), 128, np.uint8)


def run(
    poses: list[Pose],
    action: ChallengeAction,
    settings: ChallengeSettings | None = None,
    frames: list[Image] | None = None,
) -> ChallengeSession:
    chosen = settings or ChallengeSettings(actions=(action,))
    session = ChallengeSession(SyntheticMesh(poses), chosen, rng=random.Random(0))
    for index in range(len(poses)):
        image = GREY if frames is None else frames[index]
        if session.feed(image, FACE, index / FPS) is not ChallengeStatus.PENDING:
            break
    return session


def still(count: int, **pose: float) -> list[Pose]:
    return [Pose(**pose)] * count


def test_synthetic_signals_read_as_built() -> None:
    points = mesh_points(Pose(lid=OPEN_LID, yaw=0.25))
    assert eye_aspect_ratio(points) == pytest.approx(0.3)
    assert yaw_ratio(points) == pytest.approx(0.25)
    assert face_aspect(points) == pytest.approx(110 / 60)


def test_a_blink_passes() -> None:
    poses = still(6) + still(2, lid=1.0) + still(2)
    session = run(poses, ChallengeAction.BLINK)
    assert session.status is ChallengeStatus.PASSED and session.current_action is None


def test_eyes_must_open_again() -> None:
    session = run(still(6) + still(3, lid=1.0), ChallengeAction.BLINK)
    assert session.status is ChallengeStatus.PENDING


def test_a_small_dip_alone_is_no_blink() -> None:
    session = run(still(6) + still(2, lid=2.7) + still(70), ChallengeAction.BLINK)
    assert session.status is ChallengeStatus.TIMEOUT


def test_a_squashed_face_is_no_blink() -> None:
    """A photo tilted back: lids and face shrink together, the openness does not move."""
    squashed = still(2, lid=OPEN_LID * 0.6, squash=0.6)
    session = run(still(6) + squashed + still(70), ChallengeAction.BLINK)
    assert session.status is ChallengeStatus.TIMEOUT


def test_eyes_closed_for_long_are_no_blink() -> None:
    closed_two_seconds = still(20, lid=1.0)
    session = run(still(6) + closed_two_seconds + still(10), ChallengeAction.BLINK)
    assert session.status is ChallengeStatus.PENDING


def _eyes_image(closed: bool) -> Image:
    image = GREY.copy()
    for centre in ((80, int(EYE_Y)), (120, int(EYE_Y))):
        if closed:
            cv2.line(image, (centre[0] - 9, centre[1]), (centre[0] + 9, centre[1]), (60, 60, 60), 1)
        else:
            cv2.ellipse(image, centre, (9, 3), 0, 0, 360, (255, 255, 255), -1)
            cv2.circle(image, centre, 3, (20, 20, 20), -1)
    return image


def test_closed_eyes_in_the_pixels_with_a_small_dip_are_a_blink() -> None:
    """What webcam-resolution FaceMesh gives: lids barely move, the eye pixels change."""
    poses = still(6) + still(2, lid=2.8) + still(2)
    closed = [False] * 6 + [True] * 2 + [False] * 2
    frames = [_eyes_image(c) for c in closed]
    assert run(poses, ChallengeAction.BLINK, frames=frames).status is ChallengeStatus.PASSED
    unchanged = [_eyes_image(False)] * len(poses)
    session = run(poses, ChallengeAction.BLINK, frames=unchanged)
    assert session.status is ChallengeStatus.PENDING


@pytest.mark.parametrize(
    ("action", "yaw", "mirrored"),
    [
        (ChallengeAction.TURN_LEFT, 0.3, False),  # the subject's left is the image's right
        (ChallengeAction.TURN_RIGHT, -0.3, False),
        (ChallengeAction.TURN_LEFT, -0.3, True),
    ],
)
def test_a_turn_passes(action: ChallengeAction, yaw: float, mirrored: bool) -> None:
    settings = ChallengeSettings(actions=(action,), mirrored=mirrored)
    poses = still(4) + [Pose(yaw=yaw * step / 4) for step in range(1, 5)]
    assert run(poses, action, settings).status is ChallengeStatus.PASSED


def test_a_small_turn_is_not_enough() -> None:
    session = run(still(4) + still(60, yaw=0.15), ChallengeAction.TURN_LEFT)
    assert session.status is ChallengeStatus.TIMEOUT


def test_a_turn_the_other_way_fails() -> None:
    session = run(still(4) + still(2, yaw=-0.3), ChallengeAction.TURN_LEFT)
    assert session.status is ChallengeStatus.FAILED
    assert session.failure is FailureReason.WRONG_TURN


def test_two_steps_left_then_right_come_back_through_the_centre() -> None:
    settings = ChallengeSettings(actions=(ChallengeAction.TURN_LEFT, ChallengeAction.TURN_RIGHT),
                                 steps=2)  # fmt: skip
    session = ChallengeSession(SyntheticMesh([]), settings, rng=random.Random(0))
    first, second = session.actions
    assert {first, second} == {ChallengeAction.TURN_LEFT, ChallengeAction.TURN_RIGHT}
    sign = 1.0 if first is ChallengeAction.TURN_LEFT else -1.0
    yaws = [0.0] * 4 + [0.3 * sign] * 2 + [0.1 * sign, 0.0, -0.3 * sign]
    session = run([Pose(yaw=y) for y in yaws], first, settings)
    assert session.status is ChallengeStatus.PASSED


def test_no_answer_times_out() -> None:
    session = run(still(100), ChallengeAction.TURN_RIGHT)
    assert session.status is ChallengeStatus.TIMEOUT


def test_poll_times_out_without_frames_on_the_injected_clock() -> None:
    now = [100.0]
    session = ChallengeSession(SyntheticMesh([]), rng=random.Random(1), clock=lambda: now[0])
    assert session.poll() is ChallengeStatus.PENDING
    now[0] += session.settings.step_timeout_s + 0.1
    assert session.poll() is ChallengeStatus.TIMEOUT
    assert session.feed(GREY, FACE) is ChallengeStatus.TIMEOUT  # over: frames change nothing


def test_another_track_fails_the_session() -> None:
    session = ChallengeSession(SyntheticMesh(still(3)), rng=random.Random(0))
    assert session.feed(GREY, TrackedFace(1, FACE, 3, 3, True), 0.0) is ChallengeStatus.PENDING
    assert session.feed(GREY, TrackedFace(2, FACE, 3, 3, True), 0.1) is ChallengeStatus.FAILED
    assert session.failure is FailureReason.TRACK_CHANGED


def test_frames_without_a_face_are_skipped() -> None:
    poses = still(4) + still(10, yaw=0.3, flag=0.1)
    session = run(poses, ChallengeAction.TURN_LEFT)
    assert session.status is ChallengeStatus.PENDING


def test_seeded_draws_repeat_and_never_ask_twice_running() -> None:
    settings = ChallengeSettings(steps=5)
    first = draw_actions(settings, random.Random(7))
    assert first == draw_actions(settings, random.Random(7))
    assert all(a != b for a, b in itertools.pairwise(first))
    seen = {draw_actions(ChallengeSettings(), random.Random(seed))[0] for seed in range(30)}
    assert seen == set(ChallengeAction)


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="action"):
        ChallengeSettings(actions=())
    with pytest.raises(ValueError, match="two different"):
        ChallengeSettings(actions=(ChallengeAction.BLINK,), steps=2)
    with pytest.raises(ValueError, match="positive"):
        ChallengeSettings(step_timeout_s=0)
