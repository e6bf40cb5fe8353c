"""``jaga face`` and ``jaga eval``, run in-process through ``main.main`` as a user would."""

from __future__ import annotations

import argparse
import importlib.util
import json
from importlib.machinery import ModuleSpec
from importlib.util import find_spec
from pathlib import Path

import pytest

import main
from inference.face import cli as face_cli
from inference.face.settings import FaceSettings
from inference.pack.installed import ModelPack
from tests.conftest import shared_path

pytestmark = pytest.mark.needs_shared


def jaga(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str], str]:
    """Exit status, stdout lines and stderr of ``jaga args``."""
    status = main.main(args)
    captured = capsys.readouterr()
    return status, captured.out.splitlines(), captured.err


def models(pack: ModelPack) -> list[str]:
    return ["--models-dir", str(pack.root), "--providers", "cpu", "--threads", "2"]


def test_face_settings_prints_every_section(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = jaga(["face", "settings"], capsys)
    table = json.loads("\n".join(out))
    assert status == 0 and set(table) == set(FaceSettings().as_dict())
    assert table["liveness"]["threshold"] == FaceSettings().liveness.threshold


def test_settings_files_override_and_bad_ones_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "site.toml"
    good.write_text('[decision]\nmin_frames = 5\nchallenge = "always"\n[match]\n'
                    "verify_threshold = 0.9\n", encoding="utf-8")  # fmt: skip
    status, out, _ = jaga(["face", "settings", "--settings", str(good)], capsys)
    table = json.loads("\n".join(out))
    assert status == 0 and table["decision"]["min_frames"] == 5
    assert table["decision"]["challenge"] == "always" and table["match"]["verify_threshold"] == 0.9
    for text, message in [("[decision]\nmin_frames = 0\n", "min_frames"),
                          ("[decision]\nmin_frame = 3\n", "no setting"),
                          ('[decision]\nmin_frames = "3"\n', "needs a int"),
                          ("[nowhere]\nx = 1\n", "unknown settings section"),
                          # the gate would pass faces too small for the liveness model
                          ("[quality]\nmin_face_side_px = 30.0\n", "must be at least"),
                          ("[decision\n", "cannot read")]:  # fmt: skip
        good.write_text(text, encoding="utf-8")
        status, _, err = jaga(["face", "settings", "--settings", str(good)], capsys)
        assert status == 1 and message in err and "Traceback" not in err


def eval_commands() -> set[str]:
    parser = main.build_parser()
    (commands,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    (kinds,) = (a for a in commands.choices["eval"]._actions
                if isinstance(a, argparse._SubParsersAction))  # fmt: skip
    return set(kinds.choices)


def test_eval_family_registers_what_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    present = [n for n in face_cli.OTHER_EVALUATIONS if find_spec(f"inference.face.eval_{n}")]
    installed = {"video", *present}
    assert eval_commands() == installed and {"video", "pairs", "identify"} <= installed
    real = importlib.util.find_spec

    def without_identify(name: str, package: str | None = None) -> ModuleSpec | None:
        return None if name == "inference.face.eval_identify" else real(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", without_identify)
    assert eval_commands() == installed - {"identify"}


def test_face_verify_prints_one_json_decision(
    model_pack: ModelPack, capsys: pytest.CaptureFixture[str]
) -> None:
    real = shared_path("data", "spoof", "samples", "image_T1.jpg")
    status, out, _ = jaga(["face", "verify", str(real), str(real), *models(model_pack)], capsys)
    (line,) = out
    decision = json.loads(line)
    assert status == 0 and decision["status"] == "verified"
    assert {"similarity", "liveness", "confidence", "thresholds", "models"} <= set(decision)


def test_face_detect_an_image_with_a_gallery_names_the_person(
    model_pack: ModelPack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    johns = shared_path("data", "faces", "johns")
    people = sorted(p for p in johns.iterdir() if p.is_dir())[:3]
    for person in people:
        (tmp_path / person.name).mkdir()
        for chip in sorted(person.glob("*.jpg"))[:2]:
            (tmp_path / person.name / chip.name).symlink_to(chip)
    probe = sorted(people[1].glob("*.jpg"))[4]
    argv = ["face", "detect", str(probe), "--gallery", str(tmp_path), "--no-liveness"]
    status, out, _ = jaga([*argv, *models(model_pack)], capsys)
    header, frame = (json.loads(line) for line in out)
    assert status == 0 and header["models"]["gallery"]["people"] == 3
    assert header["models"]["mode"] == "1:N"
    (decision,) = frame["decisions"]
    assert decision["status"] == "verified" and decision["identity"] == people[1].name


def test_face_detect_an_image_that_needs_a_challenge_says_so_and_no_more(
    model_pack: ModelPack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One photo cannot take a challenge: the answer is challenge_required, not also a
    challenge failed when its one-frame stream ends."""
    site = tmp_path / "site.toml"
    site.write_text('[decision]\nchallenge = "always"\n', encoding="utf-8")
    real = shared_path("data", "spoof", "samples", "image_T1.jpg")
    argv = ["face", "detect", str(real), "--settings", str(site)]
    status, out, _ = jaga([*argv, *models(model_pack)], capsys)
    _, frame = (json.loads(line) for line in out)
    assert status == 0 and [d["status"] for d in frame["decisions"]] == ["challenge_required"]


def test_face_detect_a_video_prints_json_lines(
    model_pack: ModelPack, capsys: pytest.CaptureFixture[str]
) -> None:
    video = shared_path("data", "video", "hamilton_640x360.mp4")
    argv = ["face", "detect", str(video), "--max-frames", "40", *models(model_pack)]
    status, out, _ = jaga(argv, capsys)
    lines = [json.loads(line) for line in out]
    assert status == 0 and len(lines) == 1 + 40 + 1 + 1  # header, frames, the end's decisions
    assert [line["frame"] for line in lines[1:41]] == list(range(40))
    assert lines[-1]["end"] is True and lines[-1]["frames"] == 40


def test_eval_video_writes_the_report(
    model_pack: ModelPack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = shared_path("data", "video", "hamilton_640x360.mp4")
    out = tmp_path / "reports" / "R.json"
    argv = ["eval", "video", str(video), "--out", str(out), "--max-frames", "45"]
    status, lines, _ = jaga([*argv, *models(model_pack)], capsys)
    report = json.loads(out.read_text(encoding="utf-8"))
    assert status == 0 and "fps" in lines[0]
    assert report["frames"] == 45 and report["fps"] > 0 and report["mode"] == "every frame"
    units = {"frames", "video_seconds", "wall_seconds", "video_seconds_by_status"}
    assert set(report["time_to_first_decision"]) == units
    assert report["tracks_decided"] >= 1 and report["stage_ms"]["detect"]["count"] == 45


def test_face_pack_checks_a_folder_and_writes_its_manifest(
    model_pack: ModelPack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "det_500m.onnx").symlink_to(shared_path("models", "byo-test",
                                                        "scrfd_500m_bnkps.onnx"))  # fmt: skip
    argv = ["face", "pack", str(tmp_path), "--write", "--models-dir", str(model_pack.root)]
    status, out, err = jaga(argv, capsys)
    (line,) = out
    assert status == 0 and json.loads(line)["loaded"] == {"detector": "CPUExecutionProvider"}
    assert "sha256" in err and (tmp_path / "jaga-pack.toml").read_text() == err
