"""The kiosk, composed: the face pipeline (``inference``) over the store's gallery, every
final decision recorded as an access event (``sync``), audited and queued for the hub.

``inference`` decides and ``sync`` keeps records; neither knows the other, so the
composition lives here, in the one package allowed to import both:

* :mod:`~desktop.kiosk.gallery` turns the store's templates into the pipeline's 1:N / 1:1
  index, keyed by person uid, and resolves a claimed badge (an external id) to its person;
* :mod:`~desktop.kiosk.enrol` makes templates from an operator's photos of one person and
  enrols them with their consent;
* :mod:`~desktop.kiosk.session` runs frames through a pipeline and records each final
  decision as an :class:`~sync.store.AccessEvent`, once per track;
* :mod:`~desktop.kiosk.cli` is ``jaga kiosk enrol|run``.

Nothing here imports Qt: ``jaga`` builds its parser from :mod:`~desktop.kiosk.cli`.
"""
