"""A fine-tuned pack's familiarity: the head's, over the fine-tuned network's own features.

A fine-tune has no head file: its classifier is the network's last layer. Its familiarity is
worked out exactly as a head's (:mod:`inference.fish.head`): the pooled penultimate
``features`` of the plain (letterboxed, not augmented) training images, standardised by
their mean and spread, give one unit prototype per species; a photo's familiarity is its
standardised features' best cosine similarity to them. The reference is a
:class:`HeadWeights` whose one layer is the classifier rewritten over standardised features,
so its ``logits`` are the network's and the head's parity check applies unchanged.
"""

from __future__ import annotations

from inference.fish.head import HeadWeights
from inference.fish.images import FloatArray
from inference.fish.metrics import IntArray
from inference.fish.train_head import standardisation


def reference_head(
    classifier: tuple[FloatArray, FloatArray],
    train_features: FloatArray,
    train_labels: IntArray,
    *,
    backbone_sha256: str,
    input_size: int,
) -> HeadWeights:
    """The fine-tune's classifier (weight ``[C, F]``, bias ``[C]``) as a head over its
    training features' standardisation, with the species prototypes of those features."""
    weight, bias = classifier
    mean, std = standardisation(train_features)
    # W x + b = (W std) ((x - mean) / std) + (W mean + b): the same logits, standardised input.
    layer = ((weight * std).astype(weight.dtype), (bias + weight @ mean).astype(bias.dtype))
    head = HeadWeights(
        mean, (1.0 / std).astype(std.dtype), (layer,), backbone_sha256, input_size=input_size
    )
    return head.with_prototypes(train_features, train_labels)
