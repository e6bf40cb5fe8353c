"""``jaga kiosk enrol|run``: enrol a person with consent, and run a camera or a recorded
video through the kiosk, recording every final decision as an audited access event.

The store is opened as ``jaga store`` opens it (``--db``, else ``$JAGA_STORE_PATH`` or the
user's data folder; ``--key-file``, else ``$JAGA_STORE_PASSPHRASE``, else a prompt). Events
are recorded under the device's registration (``jaga sync register``), else under
``--site`` and ``--device``; ``run`` overwrites the passphrase and the token it was given
once its store is open (``desktop.kiosk.forget``). Liveness always runs: a kiosk without
it opens for a printed photo, so there is no option to turn it off.

``run`` prints one JSON line per recorded event as it happens, and a summary line (the
frames and the events of this run) when the source ends, or on Ctrl-C or SIGTERM (a
systemd stop) after the open tracks are decided and recorded (``desktop.kiosk.stop``;
``"interrupted": true`` and the ``signal``). Decisions an earlier run left waiting for a
busy store (its journal, written first) are printed too, with ``"earlier_run": true``, and
counted apart (``earlier_run_events``), not as this run's. A camera that stops giving frames has
its open tracks decided and recorded too, then is an error. Exit codes: 0 done, 1 refused
(the message says why; ``enrol`` wrote nothing; ``run`` keeps the events it printed), 2
usage, 130 interrupted (Ctrl-C), 143 stopped by SIGTERM (``run``: its events recorded).

This module imports no Qt and loads the models and the store only when a command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop.catch_cli import add_store_options
from inference.cli_numbers import thread_count
from sync.cli_errors import positive_count, whole_number
from sync.limits import MAX_CONSENT_DAYS
from sync.store.cli import key_source_of, open_store_of, store_path_of

if TYPE_CHECKING:
    from desktop.kiosk.assemble import KioskOptions
    from desktop.kiosk.session import KioskSession
    from desktop.kiosk.stop import StopSignals
    from sync.store import AccessEvent


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``jaga kiosk`` to the ``jaga`` parser."""
    kiosk = subparsers.add_parser("kiosk", help="enrol people; run the kiosk on a camera or video")
    commands = kiosk.add_subparsers(dest="kiosk_command", metavar="COMMAND", required=True)
    _register_enrol(commands)
    _register_run(commands)


def _register_enrol(commands: argparse._SubParsersAction[Any]) -> None:
    enrol = commands.add_parser(
        "enrol",
        help="enrol one person from photos, with their consent",
        description="Make one template from each PHOTO (one face each, sharp and frontal) "
        "and enrol the person with the consent they gave, in one transaction. A face that "
        "already passes as someone enrolled is refused unless --accept-duplicate.",
    )
    enrol.add_argument("photos", nargs="+", type=Path, metavar="PHOTO")
    enrol.add_argument("--id", required=True, dest="external_id", type=_badge,
                       help="badge or staff number")  # fmt: skip
    enrol.add_argument("--name", required=True, type=_given("a display name"),
                       help="the name the kiosk shows")  # fmt: skip
    enrol.add_argument("--consent-version", required=True, metavar="V",
                       type=_given("a consent version"),
                       help="the version of the consent text the person agreed to")  # fmt: skip
    enrol.add_argument("--operator", required=True, metavar="NAME", type=_given("an operator"),
                       help="who enrols them")  # fmt: skip
    enrol.add_argument("--retain-days", required=True, type=_RETAIN_DAYS, metavar="N",
                       help="days the consent lets the templates be kept (purge-expired "
                       "erases them after)")  # fmt: skip
    enrol.add_argument("--site", help="the person's site (default: the registration's)")
    enrol.add_argument("--accept-duplicate", action="store_true",
                       help="enrol even if the face passes as someone enrolled")  # fmt: skip
    _add_model_options(enrol)
    add_store_options(enrol)
    enrol.set_defaults(handler=_enrol)


# Refused when the command line is read (exit status 2), before the models load: the store
# and NewPerson check the same again for callers that are not this command.
_RETAIN_DAYS = whole_number(
    1, MAX_CONSENT_DAYS, expected=f"a number of days from 1 to {MAX_CONSENT_DAYS}"
)


def _given(words: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        from sync.protocol.names import hidden_characters_problem

        if not text.strip():
            raise argparse.ArgumentTypeError(f"enrolment needs {words}, got {text!r}")
        if problem := hidden_characters_problem(text, words):  # as NewPerson says it
            raise argparse.ArgumentTypeError(problem)
        return text

    return parse


def _badge(text: str) -> str:
    from sync.store.badges import badge_problem

    if not text.strip():
        raise argparse.ArgumentTypeError(f"enrolment needs an external id, got {text!r}")
    if problem := badge_problem(text):  # its own rule for control characters, and more
        raise argparse.ArgumentTypeError(problem)
    return text


def _register_run(commands: argparse._SubParsersAction[Any]) -> None:
    run = commands.add_parser(
        "run",
        help="run the kiosk on a camera or a video, recording each decision",
        description="Detect, track, check quality and liveness, and verify (--claim) or "
        "identify every face of SOURCE against the store's gallery; each track's final "
        "decision is recorded as an access event, audited and queued for the hub.",
    )
    run.add_argument("source", metavar="SOURCE",
                     help="a video file, or camera:N for camera N")  # fmt: skip
    run.add_argument("--claim", metavar="ID", help="1:1: the badge (external id) presented")
    run.add_argument("--site", help="site of an unregistered device's events")
    run.add_argument("--device", help="name of an unregistered device")
    run.add_argument("--max-frames", type=positive_count, metavar="N", help="stop after N frames")
    _add_model_options(run)
    add_store_options(run)
    run.set_defaults(handler=_run)


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models-dir", type=Path, help="installed model pack (default: cache)")
    parser.add_argument("--providers", default="tensorrt,cuda,cpu", help="preference order")
    parser.add_argument("--threads", type=thread_count, help="CPU threads per model (default: all)")
    parser.add_argument("--settings", type=Path, help="TOML overriding face settings")
    parser.add_argument("--pack", type=Path, help="bring-your-own InsightFace model folder")


def _enrol(args: argparse.Namespace) -> int:
    from desktop.kiosk.assemble import kiosk_settings, kiosk_stages
    from desktop.kiosk.enrol import NewPerson, enrol_person
    from desktop.kiosk.identity import enrolment_site

    def enrol() -> dict[str, Any]:
        settings = kiosk_settings(args.settings)
        stages = kiosk_stages(_options(args), settings)  # before the key is asked for
        with open_store_of(args) as store:
            site = enrolment_site(store, args.env, args.site)  # the token: main took it
            person = NewPerson(args.external_id, args.name, site, args.consent_version,
                               args.operator, args.retain_days)  # fmt: skip
            done = enrol_person(store, stages, settings, person, args.photos,
                                accept_duplicates=args.accept_duplicate)  # fmt: skip
        return {
            "person_uid": done.person.person_uid,
            "external_id": done.person.external_id,
            "site": done.person.site,
            "templates": len(done.template_uids),
            "photos": len(done.photo_uids),
            "accepted_duplicates": [m.person_uid for m in done.accepted_duplicates],
        }

    return _guarded(args, lambda: print(json.dumps(enrol())))


def _run(args: argparse.Namespace) -> int:
    from desktop.kiosk.assemble import open_kiosk
    from desktop.kiosk.errors import KioskError
    from desktop.kiosk.forget import forget_secrets_once_open
    from desktop.kiosk.journal import set_aside_note
    from desktop.kiosk.sources import CAMERA_PREFIX, check_source, source_frames
    from desktop.kiosk.stop import StopSignals

    stop = StopSignals()

    def run() -> int:
        frames = 0
        events: Counter[bool] = Counter()  # by whether an earlier run decided them
        stopped: KeyboardInterrupt | None = None
        # Before the models load and the key is asked for: a source that cannot run (a
        # folder, a photo, a video with no frame, a typo for camera:N) is said at once. A
        # camera is only checked: it is opened once the store is open and the models
        # loaded, not held (its light on) while the passphrase is typed, nor opened for a
        # wrong one.
        camera = check_source(args.source).startswith(CAMERA_PREFIX)
        video = None if camera else source_frames(args.source, args.max_frames)
        # The hub's token is read from args.env alone, taken out of the environment (with the
        # passphrases, by ``main``): nothing the kiosk starts in its long run inherits it.
        key = key_source_of(args)
        with open_kiosk(store_path_of(args), key, _options(args), args.env) as session:
            forget_secrets_once_open(key, args.env)
            aside = session.journal_set_aside
            set_aside = None if aside is None else set_aside_note(aside)
            for warning in (session.warning, session.clock_warning, set_aside):
                if warning is not None:
                    print(f"jaga kiosk run: warning: {warning}", file=sys.stderr)
            try:
                source = video if video is not None else source_frames(args.source, args.max_frames)
                for time_s, image in stop.frames(source):  # a stop comes between frames
                    events += _print_events(session, session.process(image, time_s).events)
                    frames += 1
            except KeyboardInterrupt as stopping:  # Ctrl-C, SIGTERM: those at the kiosk
                stopped = stopping  # were decided: record them
            except KioskError as camera_stopped:  # whoever stood there is recorded first;
                # said before, so that a failure to write them is not all the operator reads
                print(f"jaga kiosk run: error: {camera_stopped}", file=sys.stderr)
                _print_events(session, session.finish())
                return 1
            events += _print_events(session, session.finish())
            summary = {"frames": frames, "mode": str(session.pipeline.mode),
                       "access_events": events[False], "warning": session.warning}  # fmt: skip
        if events[True]:
            summary["earlier_run_events"] = events[True]
        if session.journal_set_aside is not None:  # its decisions are not in this store
            summary["journal_set_aside"] = session.journal_set_aside.name
        if session.clock_watch.last_wrong is not None:  # its events' times are the clock's
            summary["clock"] = session.clock_watch.last_wrong  # (wrong at start, or since)
        if stopped is not None or stop.received is not None:  # a signal after the frames
            summary["interrupted"] = True  # ended is noted (not raised): a stop all the same
        if stop.received is not None:
            summary["signal"] = stop.received.name
        print(json.dumps({"summary": summary}))
        return stop.status(stopped)

    # Before the models load and the store is opened: a stop while they do ends the run as
    # one later does, not by the signal's default (desktop.kiosk.stop).
    with stop.installed():
        return _guarded(args, run, stop)


def _options(args: argparse.Namespace) -> KioskOptions:
    from desktop.kiosk.assemble import KioskOptions

    return KioskOptions(
        models_dir=args.models_dir, providers=args.providers, threads=args.threads,
        settings=args.settings, pack=args.pack, site=getattr(args, "site", None),
        device=getattr(args, "device", None), claim=getattr(args, "claim", None),
    )  # fmt: skip


def _guarded(args: argparse.Namespace, command: Any, stop: StopSignals | None = None) -> int:
    from desktop.kiosk.errors import KioskError
    from desktop.kiosk.stop import TERMINATED_STATUS, stopped_status
    from inference.errors import InferenceError
    from sync.errors import SyncError

    name = f"jaga kiosk {args.kiosk_command}"
    try:
        code = command()
    except (KioskError, InferenceError, SyncError) as error:
        print(f"{name}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as stopped:  # Ctrl-C, or SIGTERM, before the frames began
        # (the signal received, not the exception: a prompt turns either into its own)
        status = stopped_status(stopped) if stop is None else stop.status(stopped)
        said = "stopped by SIGTERM" if status == TERMINATED_STATUS else "interrupted"
        print(f"{name}: {said}", file=sys.stderr)
        return status
    return code if isinstance(code, int) else 0


def _print_events(session: KioskSession, events: tuple[AccessEvent, ...]) -> Counter[bool]:
    """One JSON line per event recorded; how many there were, by whether an earlier run
    decided them (left waiting for the store: written now, not decided now)."""
    from sync.errors import RecordNotFoundError

    counted: Counter[bool] = Counter()
    for event in events:
        line: dict[str, object] = {"event_uid": event.event_uid, "decision": event.decision}
        earlier = session.from_earlier_run(event)
        counted[earlier] += 1
        if earlier:  # written now, decided (at its occurred_at) by a run before this one
            line["earlier_run"] = True
        reasons = session.reasons(event)  # a low_quality one's: what the screen advised on
        if reasons:
            line["reasons"] = list(reasons)
        if event.clock_suspect is not None:  # why: on stderr, and in the record
            line["clock_suspect"] = True
        line.update(person_uid=event.person_uid, similarity=_rounded(event.similarity),
                    liveness=_rounded(event.liveness))  # fmt: skip
        if event.person_uid is not None:
            try:
                person = session.store.people.get(event.person_uid)
            except RecordNotFoundError:  # erased since: the event stands, the name is gone
                person = None
            if person is not None:
                line.update(external_id=person.external_id, name=person.display_name)
        print(json.dumps(line), flush=True)
    return counted


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
