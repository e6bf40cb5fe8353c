"""The frozen device build (PyInstaller, one folder) and the hook its smoke test relies on.

``JAGA_FROZEN_SMOKE=1`` builds the folder with packaging/build_frozen.sh and runs
packaging/smoke_frozen.sh on it (the figures are in README.md, Packaging); otherwise that test
skips, since the build takes a while. The quit hook (``$JAGA_APP_QUIT_AFTER_S``) is tested
always, on the app run from source.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from desktop.app import QUIT_AFTER_ENV, quit_after_s, run_app
from desktop.settings import AppSettings
from inference.pack.installed import ModelPack
from tests.conftest import REPO, shared_path

FROZEN_ENV = "JAGA_FROZEN_SMOKE"
SMOKE_PHOTO = ("data", "fish", "f4k", "fish_01", "fish_000002819598_05334.png")


def test_quit_after_reads_positive_seconds() -> None:
    assert quit_after_s({}) is None
    assert quit_after_s({QUIT_AFTER_ENV: " "}) is None
    assert quit_after_s({QUIT_AFTER_ENV: "2.5"}) == 2.5


@pytest.mark.parametrize("text", ["soon", "0", "-1", "nan", "inf"])
def test_quit_after_refuses_what_is_not_a_positive_number(text: str) -> None:
    with pytest.raises(ValueError, match=r"\$JAGA_APP_QUIT_AFTER_S must be a positive"):
        quit_after_s({QUIT_AFTER_ENV: text})


def test_a_bad_quit_after_is_refused_before_any_window_or_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = AppSettings(tmp_path / "jaga.db", env={QUIT_AFTER_ENV: "soon"})
    assert run_app(settings) == 2
    assert "JAGA_APP_QUIT_AFTER_S must be a positive number of seconds" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # no store was created


def _jaga(arguments: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "main.py"), *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,  # a window that never quits fails the test here
        check=False,
    )


def test_the_app_quits_by_itself_after_the_given_seconds(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "JAGA_MODELS_DIR": str(tmp_path / "models"),  # no pack: nothing to load, a fast start
        "JAGA_STORE_PASSPHRASE": "",
    }
    store = ["--db", str(tmp_path / "jaga.db"), "--key-file", str(tmp_path / "key")]
    created = _jaga(["store", "init", *store, "--create-key-file"], env)
    assert created.returncode == 0, created.stderr

    app = _jaga(["app", *store], {**env, QUIT_AFTER_ENV: "1"})

    assert app.returncode == 0, app.stderr[-3000:]
    assert "Traceback" not in app.stderr


@pytest.mark.slow
@pytest.mark.needs_shared
@pytest.mark.usefixtures("default_species_pack")  # the pack `jaga catch` classifies with
@pytest.mark.skipif(
    os.environ.get(FROZEN_ENV) != "1",
    reason=f"builds the frozen app with PyInstaller: set {FROZEN_ENV}=1 to run it",
)
def test_the_frozen_build_passes_its_smoke_test(model_pack: ModelPack) -> None:
    photo = shared_path(*SMOKE_PHOTO)
    env = {**os.environ, "PYTHON": sys.executable, "JAGA_MODELS_DIR": str(model_pack.root)}
    build = subprocess.run(
        [str(REPO / "packaging" / "build_frozen.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    assert "(checks passed)" in build.stdout

    dist = REPO / os.environ.get("JAGA_FROZEN_DIR", ".cache/frozen") / "dist" / "jaga"
    smoke = subprocess.run(
        [str(REPO / "packaging" / "smoke_frozen.sh"), str(dist)],
        env={**env, "JAGA_SMOKE_PHOTO": str(photo)},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert smoke.returncode == 0, smoke.stdout[-3000:] + smoke.stderr[-3000:]
    assert "smoke: all steps passed" in smoke.stdout
