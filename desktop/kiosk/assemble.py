"""Building a kiosk session, the same way for ``jaga kiosk run`` and the window.

The models are loaded (and warmed up) before the store is opened: on a Jetson a first
TensorRT build takes minutes, and the store should not be held open meanwhile. A
:class:`KioskOpener` loads them once however often the store is tried (the window tries
again while a full disk or another process keeps the store from opening).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from desktop.kiosk.errors import KioskError
from desktop.kiosk.gallery import GalleryWatch, claimed_person, overlap_warning
from desktop.kiosk.identity import kiosk_identity
from desktop.kiosk.session import KioskSession
from desktop.kiosk.writer import KIOSK_BUSY_TIMEOUT_S
from inference.face.assemble import StageChoice, build_stages, runtime_from_args
from inference.face.pipeline import DecisionPipeline
from inference.face.settings import FaceSettings, load_settings
from inference.face.stages import Stages
from sync.store import KeySource, Store, StoreConfig
from sync.store.retention_start import finish_retention, start_retention_if_due


@dataclass(frozen=True)
class KioskOptions:
    """The models and the place a kiosk runs with (the CLI's options, the app's settings)."""

    models_dir: Path | None = None
    providers: str = "tensorrt,cuda,cpu"
    threads: int | None = None
    settings: Path | None = None
    pack: Path | None = None
    site: str | None = None
    device: str | None = None
    claim: str | None = None
    """1:1 against this badge (external id); None: 1:N."""


def kiosk_settings(path: Path | None) -> FaceSettings:
    """The face settings in kiosk mode: a frame with two comparable faces decides nobody."""
    settings = load_settings(path)
    frames = dataclasses.replace(settings.frames, single_subject=True)
    return dataclasses.replace(settings, frames=frames)


def kiosk_stages(options: KioskOptions, settings: FaceSettings) -> Stages:
    """Detector, liveness (always) and recogniser, loaded and warmed up."""
    wanted = argparse.Namespace(
        models_dir=options.models_dir, providers=options.providers, threads=options.threads
    )
    runtime = runtime_from_args(wanted)
    return build_stages(runtime, settings, StageChoice(options.pack))


def kiosk_models(options: KioskOptions) -> tuple[FaceSettings, Stages]:
    """The kiosk's face settings and its models, loaded and warmed up."""
    settings = kiosk_settings(options.settings)
    return settings, kiosk_stages(options, settings)


def kiosk_session(
    store: Store,
    stages: Stages,
    settings: FaceSettings,
    options: KioskOptions,
    env: Mapping[str, str],
    *,
    watch_every_s: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
) -> KioskSession:
    """A session over the store's gallery, watched for changes (looked at every
    ``watch_every_s``), recording as this device."""
    identity = kiosk_identity(store, env, options.site, options.device)
    if stages.recogniser is None:
        raise KioskError("a kiosk needs a recogniser")
    watch = GalleryWatch(
        store, stages.recogniser.model, settings.match, identity.site, every_s=watch_every_s
    )
    # made before the load: a commit between the two is then seen at the first look
    gallery = watch.load()
    claimed = (
        None
        if options.claim is None
        else claimed_person(store, options.claim, identity.site).person_uid
    )
    pipeline = DecisionPipeline(dataclasses.replace(stages, gallery=gallery), settings, claimed)
    session = KioskSession(pipeline, store, identity, watch, clock)
    session.warning = overlap_warning(gallery, pipeline.thresholds.similarity)
    return session


@contextmanager
def open_kiosk(
    store_path: Path,
    key: KeySource,
    options: KioskOptions,
    env: Mapping[str, str],
    store_config: StoreConfig | None = None,
    *,
    models: tuple[FaceSettings, Stages] | None = None,
) -> Iterator[KioskSession]:
    """Load the models (unless given, as :func:`kiosk_models` loads them), open the store,
    apply decision retention if due (``sync.store.retention_start``: a kiosk that never
    syncs runs it nowhere else), and yield the session; the store closes after."""
    settings, stages = models or kiosk_models(options)
    # A short wait for the write lock: an event the store refuses waits (kept on disk)
    # instead of holding up the frames (desktop.kiosk.writer).
    config = dataclasses.replace(store_config or StoreConfig(), busy_timeout_s=KIOSK_BUSY_TIMEOUT_S)
    with Store.open(store_path, key, config=config) as store:
        retention = start_retention_if_due(store)  # beside the first frames, on its own thread
        try:
            session = kiosk_session(store, stages, settings, options, env)
            try:
                yield session
            finally:
                session.close()
        finally:
            finish_retention(retention)


class KioskOpener:
    """Opens the kiosk's session each time it is called (:func:`open_kiosk`), loading the
    models only the first time: opening the store again after it could not be opened does
    not load them again."""

    def __init__(
        self,
        store_path: Path,
        key: KeySource,
        options: KioskOptions,
        env: Mapping[str, str],
        store_config: StoreConfig | None = None,
    ) -> None:
        self._open = functools.partial(open_kiosk, store_path, key, options, env, store_config)
        self._options = options
        self._models: tuple[FaceSettings, Stages] | None = None

    def __call__(self) -> AbstractContextManager[KioskSession]:
        if self._models is None:
            self._models = kiosk_models(self._options)
        return self._open(models=self._models)
