"""Identification (``jaga eval identify``) on ORL and on LFW people with several images.

    .venv/bin/python -m tools.identify_benchmarks --orl ../shared/data/faces/orl \\
        --lfw ../shared/data/faces/lfw/images --models-dir .cache/models \\
        --out .cache/face_eval/identify

ORL: 40 people x 10 images (``sN/1.pgm`` .. ``sN/10.pgm``); with ``n`` enrolled images,
images 1..n of every person are the gallery and the rest the probes. LFW: the people with
at least 4 images; the first 3 (by number) are enrolled, the rest are probes. Each split is
written to a temporary folder pair and measured by ``jaga eval identify``'s own code, with
both ways of combining several templates of one person (``max`` and ``mean``).
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from inference.face.eval_common import FacePipeline
from inference.face.eval_identify import evaluate_identify
from inference.face.match import Aggregate, MatchSettings

LFW_MIN_IMAGES = 4
LFW_ENROLLED = 3


def split_orl(orl: Path, enrolled: int, root: Path) -> None:
    """ORL's images 1..enrolled of each person into ``root/gallery``, the rest into probes."""
    for person in sorted(p for p in orl.iterdir() if p.is_dir()):
        for image in person.glob("*.pgm"):
            _place(image, root, "gallery" if int(image.stem) <= enrolled else "probes", person.name)


def split_lfw(images: Path, root: Path) -> None:
    """LFW people with enough images: the first few enrolled, the rest probes."""
    by_person: dict[str, list[Path]] = defaultdict(list)
    for image in sorted(images.glob("*.jpg")):
        by_person[image.stem.rsplit("_", 1)[0]].append(image)
    for person, paths in by_person.items():
        if len(paths) >= LFW_MIN_IMAGES:
            for index, image in enumerate(paths):
                _place(image, root, "gallery" if index < LFW_ENROLLED else "probes", person)


def _place(image: Path, root: Path, role: str, person: str) -> None:
    (root / role / person).mkdir(parents=True, exist_ok=True)
    shutil.copy(image, root / role / person / image.name)


def measure(
    pipeline: FacePipeline, out: Path, single_template: bool, split: Callable[[Path], None]
) -> dict[str, Any]:
    """``split(root)`` fills a temporary folder; both aggregates are measured on it."""
    results = {}
    with tempfile.TemporaryDirectory() as temp:
        split(Path(temp))
        for aggregate in (Aggregate.MAX,) if single_template else tuple(Aggregate):
            report = evaluate_identify(
                Path(temp) / "gallery",
                Path(temp) / "probes",
                out.with_name(f"{out.stem}_{aggregate.value}.json"),
                pipeline,
                settings=MatchSettings(aggregate=aggregate),
            )
            results[aggregate.value] = {
                key: report[key]
                for key in (
                    "rank1",
                    "rank5",
                    "closed_set_probes",
                    "gallery_identities",
                    "gallery_templates",
                    "failed_images",
                    "open_set",
                    "cpu_seconds_per_image",
                )
            }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orl", type=Path)
    parser.add_argument("--lfw", type=Path, help="LFW's images folder")
    parser.add_argument("--models-dir", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="folder for the reports")
    args = parser.parse_args()
    pipeline = FacePipeline.from_pack(args.models_dir, threads=1)
    summary: dict[str, Any] = {}
    for enrolled in (1, 3) if args.orl else ():
        summary[f"orl, {enrolled} enrolled"] = measure(
            pipeline,
            args.out / f"orl_{enrolled}.json",
            enrolled == 1,
            functools.partial(split_orl, args.orl, enrolled),
        )
    if args.lfw:
        summary[f"lfw, {LFW_ENROLLED} enrolled"] = measure(
            pipeline, args.out / "lfw.json", False, functools.partial(split_lfw, args.lfw)
        )
    text = json.dumps(summary, indent=1)
    print(text)
    (args.out / "identify_summary.json").write_text(text + "\n")


if __name__ == "__main__":
    main()
