"""Fish species: training a head on an EfficientNet-Lite backbone, species packs, classification.

The package is split so that a handheld that only classifies never imports torch:

- :mod:`inference.fish.classify` — :class:`SpeciesClassifier` (ONNX Runtime only) and
  :mod:`inference.fish.types` — :class:`FishPrediction`, the value it returns;
- :mod:`inference.fish.pack` — reading, verifying and writing species packs (its parts:
  ``pack_format``, ``pack_reading``, ``pack_leftovers``);
- :mod:`inference.fish.train` / :mod:`inference.fish.finetune` — the two training modes (torch);
- :mod:`inference.fish.evaluate` — ``jaga fish eval``;
- :mod:`inference.fish.corrections` — ``jaga fish export-training-set`` (its parts:
  ``correction_rows``, ``export_order``, ``same_pictures``, ``training_tree``).

Nothing is re-exported here on purpose: importing the package must stay free of torch and
of the runtime, so that the fine-tune can run on a machine that has only torch.
"""
