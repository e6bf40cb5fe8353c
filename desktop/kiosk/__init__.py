"""The kiosk, composed: the face pipeline (``inference``) over the store's gallery, every
final decision recorded as an access event (``sync``), audited and queued for the hub.

``inference`` decides and ``sync`` keeps records; neither knows the other, so the
composition lives here, in the one package allowed to import both:

* :mod:`~desktop.kiosk.gallery` turns the store's templates into the pipeline's 1:N / 1:1
  index, keyed by person uid (consent still running), watches the store for changes, and
  resolves a claimed badge (an external id) to its person;
* :mod:`~desktop.kiosk.enrol` makes templates from an operator's photos of one person and
  enrols them with their consent;
* :mod:`~desktop.kiosk.session` runs frames through a pipeline and records each final
  decision as an :class:`~sync.store.AccessEvent`, once per track, with badges switching
  it to 1:1; :mod:`~desktop.kiosk.writer` keeps events a busy store refused, on disk
  until it takes them (:mod:`~desktop.kiosk.journal`);
* :mod:`~desktop.kiosk.runner` gives a live camera its capture and inference threads;
  :mod:`~desktop.kiosk.sources` reads the camera or a video;
* :mod:`~desktop.kiosk.identity` says whose site and device the events are;
* :mod:`~desktop.kiosk.assemble` builds a session the same way for the CLI and the window;
* :mod:`~desktop.kiosk.prompts` words what the screen tells the person;
* :mod:`~desktop.kiosk.cli` is ``jaga kiosk enrol|run``.

Nothing here imports Qt (the window's parts are ``desktop.kiosk_panel`` and
``desktop.kiosk_controller``): ``jaga`` builds its parser from :mod:`~desktop.kiosk.cli`.
"""
