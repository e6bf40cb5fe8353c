"""Installing: atomic placement, pinned build checksums, tamper detection, Ctrl-C."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from inference.errors import ChecksumMismatchError, ModelNotInstalledError
from inference.pack.files import sha256_of
from inference.pack.install import install
from inference.pack.installed import ModelPack, ModelState
from inference.pack.manifest import Manifest, ModelSpec, load_manifest
from tests.conftest import REPO, shared_path
from tests.inference.pack.helpers import manifest_of, sha256_bytes, url_spec

PAYLOAD = b"onnx bytes" * 50


def make_pack(tmp_path: Path, built_sha: str | None = None) -> ModelPack:
    mirror = tmp_path / "mirror"
    mirror.mkdir(exist_ok=True)
    (mirror / "m.onnx").write_bytes(PAYLOAD)
    spec = url_spec("m", "m.onnx", sha256_bytes(PAYLOAD), built_sha)
    manifest = Manifest.model_validate(
        {"schema": 1, "pack": "t", "version": "1", "models": [spec.model_dump()]}
    )
    return ModelPack(tmp_path / "pack", manifest)


def test_install_places_the_file_and_records_its_checksum(tmp_path: Path) -> None:
    pack = make_pack(tmp_path)
    outcomes = install(pack, pack.manifest.models, mirror=tmp_path / "mirror")
    assert [o.action for o in outcomes] == ["built"]
    assert pack.model("m").path.read_bytes() == PAYLOAD
    assert pack.records()["m"]["sha256"] == sha256_bytes(PAYLOAD)
    again = install(pack, pack.manifest.models, mirror=tmp_path / "mirror")
    assert [o.action for o in again] == ["up to date"]


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_installed_files_are_as_readable_as_the_umask_allows(tmp_path: Path, umask: int) -> None:
    """Not private to whoever installed: a pack built by root or an admin must be readable
    by the user the app runs as, as any file that user's umask lets through."""
    pack = make_pack(tmp_path)
    previous = os.umask(umask)
    try:
        install(pack, pack.manifest.models, mirror=tmp_path / "mirror")
    finally:
        os.umask(previous)
    written = [pack.root / "m.onnx", pack.root / "installed.json", *pack.sources_dir.iterdir()]
    assert {path.name: oct(stat.S_IMODE(path.stat().st_mode)) for path in written} == {
        path.name: oct(0o666 & ~umask) for path in written
    }


def test_built_file_with_another_checksum_is_refused_and_not_installed(tmp_path: Path) -> None:
    pack = make_pack(tmp_path, built_sha="0" * 64)
    with pytest.raises(ChecksumMismatchError, match="not the pinned one"):
        install(pack, pack.manifest.models, mirror=tmp_path / "mirror")
    assert pack.state(pack.manifest.model("m")) is ModelState.MISSING
    assert not list((tmp_path / "pack").glob("*.part"))
    assert not (tmp_path / "pack" / "m.onnx").exists()


def test_file_changed_after_install_is_caught_at_load_with_a_fix(tmp_path: Path) -> None:
    pack = make_pack(tmp_path)
    install(pack, pack.manifest.models, mirror=tmp_path / "mirror")
    with (tmp_path / "pack" / "m.onnx").open("ab") as handle:
        handle.write(b"x")
    assert pack.state(pack.manifest.model("m")) is ModelState.MODIFIED
    with pytest.raises(ChecksumMismatchError, match="jaga models install m --force"):
        pack.model("m")


def test_missing_model_error_says_how_to_install(tmp_path: Path) -> None:
    pack = make_pack(tmp_path)
    with pytest.raises(ModelNotInstalledError, match="jaga models install m"):
        pack.model("m")


def test_a_fix_names_the_pack_folder_unless_it_is_the_default_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Followed as printed, a fix without --dir installs into the default folder and the
    pack given (``--models-dir``) stays broken."""
    pack = make_pack(tmp_path)
    monkeypatch.setenv("JAGA_MODELS_DIR", str(tmp_path / "the user's default"))
    with pytest.raises(ModelNotInstalledError) as raised:
        pack.model("m")
    assert str(raised.value).endswith(f"run: jaga models install m --dir {tmp_path / 'pack'}")
    monkeypatch.setenv("JAGA_MODELS_DIR", str(pack.root))
    with pytest.raises(ModelNotInstalledError) as raised:
        pack.model("m")
    assert str(raised.value).endswith("run: jaga models install m")


def test_a_model_read_while_an_install_rewrites_its_record_is_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``install --force`` in another process takes the record out, then writes it back; a
    reader must answer from one reading of it (a file, or a one-line error), never KeyError.
    The writer's step runs while the reader hashes the file, between its reads before."""
    pack = make_pack(tmp_path)
    install(pack, pack.manifest.models, mirror=tmp_path / "mirror")
    writer = ModelPack(pack.root, pack.manifest)

    def hash_while_the_record_is_taken_out(path: Path) -> str:
        writer.write_record(writer.manifest.model("m"), None)  # install --force, first step
        return sha256_of(path)

    monkeypatch.setattr("inference.pack.installed.sha256_of", hash_while_the_record_is_taken_out)
    assert pack.model("m").read_checked() == PAYLOAD


def reread(pack: ModelPack, **changes: object) -> ModelPack:
    """The pack read against its manifest with the model's entry changed as ``changes`` say."""
    entry = pack.manifest.model("m").model_dump() | changes
    return ModelPack(pack.root, manifest_of(ModelSpec.model_validate(entry)))


def write_legacy_record(pack: ModelPack) -> None:
    """The record as Jaga wrote it before build digests: the digest of the whole entry."""
    spec = pack.manifest.model("m")
    legacy = hashlib.sha256(spec.model_dump_json().encode()).hexdigest()
    record = {"m": {"file": spec.file, "sha256": sha256_bytes(PAYLOAD), "spec": legacy}}
    (pack.root / "installed.json").write_text(json.dumps(record))


COSMETIC = {
    "name": "m, renamed",
    "licence": "CC0-1.0 (reworded)",
    "card": "another.md",
    "role": "renamed role",
    "sources": {
        "onnx": {"url": "https://elsewhere.example/m.onnx", "sha256": sha256_bytes(PAYLOAD)}
    },
}


@pytest.mark.parametrize("legacy", [False, True], ids=["record", "legacy-record"])
def test_a_changed_name_licence_or_url_keeps_a_pinned_model_usable(
    tmp_path: Path, legacy: bool
) -> None:
    """A frozen kiosk has no converter to rebuild with: a new manifest whose entry only says
    the model differently must not make its model unusable. A record an older Jaga wrote
    (the digest of the whole entry) holds the pinned checksum: that file is the build."""
    pack = make_pack(tmp_path, built_sha=sha256_bytes(PAYLOAD))
    install(pack, pack.manifest.models, mirror=tmp_path / "mirror")
    if legacy:
        write_legacy_record(pack)
    changed = reread(pack, **COSMETIC)
    assert changed.state(changed.manifest.model("m")) is ModelState.OK
    assert changed.model("m").read_checked() == PAYLOAD


def test_a_changed_name_or_licence_keeps_an_unpinned_model_usable(tmp_path: Path) -> None:
    pack = make_pack(tmp_path)
    install(pack, pack.manifest.models, mirror=tmp_path / "mirror")
    changed = reread(pack, **COSMETIC)
    assert changed.model("m").read_checked() == PAYLOAD


OTHER = b"other weights" * 40
RECIPE_CHANGES = {
    "other source": {
        "sources": {"onnx": {"url": "http://127.0.0.1:9/m.onnx", "sha256": sha256_bytes(OTHER)}}
    },
    "other converter options": {"convert": {"opset": 17}},
    "other converter": {"converter": "minifasnet"},
}


@pytest.mark.parametrize("change", RECIPE_CHANGES.values(), ids=RECIPE_CHANGES.keys())
def test_a_model_built_from_another_recipe_is_outdated(
    tmp_path: Path, change: dict[str, object]
) -> None:
    pack = make_pack(tmp_path)
    install(pack, pack.manifest.models, mirror=tmp_path / "mirror")
    changed = reread(pack, **change)
    assert changed.state(changed.manifest.model("m")) is ModelState.OUTDATED
    with pytest.raises(ModelNotInstalledError, match="jaga models install m"):
        changed.model("m")


@pytest.mark.parametrize("legacy", [False, True], ids=["record", "legacy-record"])
def test_a_model_whose_pinned_build_changed_is_outdated(tmp_path: Path, legacy: bool) -> None:
    """Same sources and options, a new pinned build (a newer converter): rebuild."""
    pack = make_pack(tmp_path, built_sha=sha256_bytes(PAYLOAD))
    install(pack, pack.manifest.models, mirror=tmp_path / "mirror")
    if legacy:
        write_legacy_record(pack)
    changed = reread(pack, sha256=sha256_bytes(OTHER))
    assert changed.state(changed.manifest.model("m")) is ModelState.OUTDATED


def test_a_legacy_record_of_an_unpinned_model_is_outdated_once_its_entry_changed(
    tmp_path: Path,
) -> None:
    """An older record holds no build digest, and an unpinned build no checksum to compare:
    whether the change made another file cannot be told, so it is rebuilt."""
    pack = make_pack(tmp_path)
    install(pack, pack.manifest.models, mirror=tmp_path / "mirror")
    write_legacy_record(pack)
    assert pack.state(pack.manifest.model("m")) is ModelState.OK  # nothing changed yet
    changed = reread(pack, name="m, renamed")
    assert changed.state(changed.manifest.model("m")) is ModelState.OUTDATED


def test_cli_verify_fails_on_a_tampered_file_and_list_shows_it(tmp_path: Path) -> None:
    pack_dir = tmp_path / "pack"
    mirror = shared_path("models")
    jaga = [sys.executable, str(REPO / "main.py")]
    subprocess.run(
        [*jaga, "models", "install", "yunet_n", "--dir", str(pack_dir), "--mirror", str(mirror)],
        check=True, capture_output=True,
    )  # fmt: skip
    with (pack_dir / "yunet_n_dynamic.onnx").open("r+b") as handle:
        handle.seek(100)
        handle.write(b"\x00\x01")
    verify = subprocess.run(
        [*jaga, "models", "verify", "--dir", str(pack_dir)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert verify.returncode == 1
    assert "yunet_n: modified -> jaga models install yunet_n --force" in verify.stdout
    listing = subprocess.run(
        [*jaga, "models", "list", "--dir", str(pack_dir)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert "yunet_n" in listing.stdout and "modified" in listing.stdout


def test_cli_refuses_a_mirror_folder_that_does_not_exist(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "main.py"), "models", "install", "yunet_n",
         "--dir", str(tmp_path / "pack"), "--mirror", str(tmp_path / "typo")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr == (
        f"error: the mirror folder {tmp_path / 'typo'} does not exist (or is not a folder); "
        "check the path given to --mirror\n"
    )
    assert not (tmp_path / "pack").exists()  # nothing was started


DAMAGED_RECORD = '{"m": {"file": "m.on'  # cut short, as a failed copy or a failing disk leaves it


@pytest.mark.parametrize("command", ["list", "verify"])
def test_cli_reports_a_damaged_record_in_one_line(tmp_path: Path, command: str) -> None:
    (tmp_path / "installed.json").write_text(DAMAGED_RECORD)
    result = subprocess.run(
        [sys.executable, str(REPO / "main.py"), "models", command, "--dir", str(tmp_path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {tmp_path / 'installed.json'} is unreadable")
    assert result.stderr.strip().endswith(f"run: jaga models install --dir {tmp_path}")
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize("damaged", [DAMAGED_RECORD, '["valid JSON, not a record"]'])
def test_install_sets_a_damaged_record_aside_and_rebuilds(tmp_path: Path, damaged: str) -> None:
    pack = make_pack(tmp_path)
    pack.root.mkdir()
    (pack.root / "installed.json").write_text(damaged)
    said: list[str] = []
    outcomes = install(pack, pack.manifest.models, mirror=tmp_path / "mirror", progress=said.append)
    assert [o.action for o in outcomes] == ["built"]
    assert pack.state(pack.manifest.model("m")) is ModelState.OK
    (aside,) = pack.root.glob("installed.json.bad-*")
    assert aside.read_text() == damaged  # kept for a look, not deleted
    assert any(aside.name in line for line in said)


def test_a_damaged_record_is_written_again_for_a_file_that_matches_its_pin(
    tmp_path: Path,
) -> None:
    """A device without the 'models' extra cannot rebuild a model, nor reach its sources
    offline: a file in place that hashes to its pinned sha256 is that build, recorded again."""
    pack = make_pack(tmp_path, built_sha=sha256_bytes(PAYLOAD))
    install(pack, pack.manifest.models, mirror=tmp_path / "mirror")
    shutil.rmtree(pack.sources_dir)  # nothing to rebuild from: no mirror given below either
    (pack.root / "installed.json").write_text(DAMAGED_RECORD)
    outcomes = install(pack, pack.manifest.models)
    assert [o.action for o in outcomes] == ["recorded"]
    assert pack.model("m").read_checked() == PAYLOAD


def test_a_file_that_does_not_match_its_pin_is_rebuilt_not_recorded(tmp_path: Path) -> None:
    pack = make_pack(tmp_path, built_sha=sha256_bytes(PAYLOAD))
    install(pack, pack.manifest.models, mirror=tmp_path / "mirror")
    (pack.root / "installed.json").write_text(DAMAGED_RECORD)
    (pack.root / "m.onnx").write_bytes(OTHER)
    outcomes = install(pack, pack.manifest.models, mirror=tmp_path / "mirror")
    assert [o.action for o in outcomes] == ["built"]
    assert pack.model("m").read_checked() == PAYLOAD


def limit_file_size() -> None:
    """In the child: writes past 100 kB fail (EFBIG), as on a full disk (ENOSPC)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write, not the process
    resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, resource.RLIM_INFINITY))


def test_cli_reports_a_failed_write_in_one_line_naming_the_file(tmp_path: Path) -> None:
    pack_dir = tmp_path / "pack"
    result = subprocess.run(
        [sys.executable, str(REPO / "main.py"), "models", "install", "yunet_n",
         "--dir", str(pack_dir), "--mirror", str(shared_path("models"))],
        capture_output=True, text=True, check=False, preexec_fn=limit_file_size,
    )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    cached = next((pack_dir / "sources").glob("*-yunet_n_dynamic.onnx"), None)
    assert cached is None  # nothing half-written was kept
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {pack_dir / 'sources'}/") and ".part" not in last
    assert last.endswith("-yunet_n_dynamic.onnx: File too large")


@pytest.mark.slow
def test_ctrl_c_during_a_conversion_leaves_nothing_half_installed(tmp_path: Path) -> None:
    """A real install process gets SIGINT while its ONNX file is being written."""
    pytest.importorskip("torch")
    mirror = shared_path("models")
    pack_dir = tmp_path / "pack"
    # A shell that runs the tests in the background (``cmd &``) starts them with SIGINT
    # ignored, and a child inherits "ignored" but not a handler: handle it here meanwhile, so
    # the install gets Ctrl-C as a terminal would deliver it, whoever started the tests.
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        process = subprocess.Popen(
            [sys.executable, str(REPO / "main.py"), "models", "install", "minifasnet_v2",
             "--dir", str(pack_dir), "--mirror", str(mirror)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
    finally:
        signal.signal(signal.SIGINT, inherited)
    assert _wait_for_partial_onnx(pack_dir, process), "the conversion never started"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "nothing half-installed" in stderr
    assert not [p for p in pack_dir.rglob("*") if p.name.endswith(".part")]
    pack = ModelPack(pack_dir, load_manifest())
    assert pack.state(pack.manifest.model("minifasnet_v2")) is ModelState.MISSING
    assert not (pack_dir / "minifasnet_v2_2.7_80x80.onnx").exists()


def _wait_for_partial_onnx(pack_dir: Path, process: subprocess.Popen[str]) -> bool:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if pack_dir.exists() and any(p.suffix == ".part" for p in pack_dir.glob(".*.onnx.*")):
            return True
        time.sleep(0.005)
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    return False


def test_verify_of_a_pack_in_dir_names_dir_in_each_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The fixes left --dir out: followed as printed, they installed into the default folder
    and the pack verified stayed broken."""
    from main import main

    pack_dir = tmp_path / "my pack"
    pack_dir.mkdir()
    assert main(["models", "verify", "--dir", str(pack_dir)]) == 1
    fixes = [line for line in capsys.readouterr().out.splitlines() if " -> " in line]
    assert fixes and all(line.endswith(f" --dir '{pack_dir}'") for line in fixes), fixes
    assert "yunet_n: missing -> jaga models install yunet_n --force --dir" in fixes[0]
