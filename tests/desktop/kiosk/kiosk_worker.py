"""A kiosk in a process of its own, to be killed: ``python -m tests.desktop.kiosk.kiosk_worker
STORE``.

It opens the kiosk on the store as the app does (``open_kiosk``, the real models on the
CPU), says ``ready`` and waits for a line on stdin: the test meanwhile takes the store's
write lock, as a long sync or ``jaga store backup`` would. It then shows the kiosk NUAA's
printed photo until a decision is made that the store refuses, says ``waiting N`` (N
decisions not yet written) and waits again, for the SIGKILL (a power cut, the OOM killer).
"""

from __future__ import annotations

import sys
from pathlib import Path

from desktop.kiosk.assemble import KioskOptions, kiosk_settings, open_kiosk
from inference.face.assemble import StageChoice, build_stages
from inference.face.settings import FaceSettings
from inference.runtime import Runtime, ThreadBudget
from inference.runtime.providers import CPU
from sync.store import Passphrase, StoreConfig
from tests.conftest import _installed_pack
from tests.desktop.kiosk.conftest import webcam
from tests.desktop.passphrases import PASSPHRASE

QUICK = StoreConfig(busy_timeout_s=0.2, scrypt_n=2**10)
SITE, DEVICE = "front-gate", "kiosk-1"


def main(store_path: str) -> int:
    runtime = Runtime(_installed_pack(), preference=(CPU,), threads=ThreadBudget(2))
    models = kiosk_settings(None), build_stages(runtime, FaceSettings(), StageChoice())
    options = KioskOptions(site=SITE, device=DEVICE)
    with open_kiosk(Path(store_path), Passphrase(PASSPHRASE), options, {}, QUICK,
                    models=models) as session:  # fmt: skip
        print("ready", flush=True)
        sys.stdin.readline()
        for index, image in enumerate(webcam("print", 10, 20)):
            frame = session.process(image, index / 10)
            if frame.result.decisions and frame.problem is not None:
                print(f"waiting {len(frame.unwritten) or 1}", flush=True)
                sys.stdin.readline()  # killed here
                return 0
    print("no decision waited", flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
