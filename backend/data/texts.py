"""Sentences for CMU takes: HumanML3D segments (start/end seconds inside a take) and KIT-ML (whole takes).

Both come from ``shared/data/cmu_texts`` (see its SOURCE.md). A :class:`TextSegment` names a time span of a take
and the sentences that describe it. HumanML3D times count from the first frame of the AMASS take, which is CMU's
first captured frame; readers whose files prepend a T-pose frame drop it, so times line up with frame 0 of the
stored take (checked on jump segments in ``docs/data.md``).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from .labels import cmu_take_from_name

HUMANML3D = "humanml3d"
KITML = "kitml"
CMU_INDEX = "cmu_index"
TEXT_SOURCES = (HUMANML3D, KITML, CMU_INDEX)
HUMANML3D_CITATION = ("Guo et al., Generating Diverse and Natural 3D Human Motions from Text, CVPR 2022 (HumanML3D, "
                      "MIT)")
KITML_CITATION = "Plappert, Mandery, Asfour, The KIT Motion-Language Dataset, Big Data 4(4), 2016"


@dataclass
class TextSegment:
    source: str  # humanml3d | kitml | cmu_index
    ref: str  # the annotation's own id (HumanML3D hml_id, KIT-ML id, CMU take)
    start_sec: float
    end_sec: float | None  # None: to the end of the take
    texts: list[str] = field(default_factory=list)
    take_seconds: float | None = None  # the take's duration in the annotation's own source (KIT-ML: AMASS)


def _clean(sentence: str) -> str:
    s = " ".join(sentence.strip().split())
    return s.removesuffix(".")


def read_humanml3d(path: Path) -> dict[str, list[TextSegment]]:
    """``humanml3d_cmu_segments.csv`` -> CMU take 'SS_TT' -> segments (one per hml_id, 3-4 sentences each)."""
    by_id: dict[tuple[str, str], TextSegment] = {}
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            take = cmu_take_from_name(row["cmu_take"])
            key = (take, row["hml_id"])
            seg = by_id.get(key)
            if seg is None:
                seg = by_id[key] = TextSegment(HUMANML3D, row["hml_id"], float(row["start_sec"]),
                                               float(row["end_sec"]))
            text = _clean(row["sentence"])
            if text and text not in seg.texts:
                seg.texts.append(text)
    out: dict[str, list[TextSegment]] = {}
    for (take, _), seg in sorted(by_id.items()):
        out.setdefault(take, []).append(seg)
    return out


def read_kitml(path: Path) -> dict[str, list[TextSegment]]:
    """``kitml_cmu_segments.csv`` -> CMU take -> one whole-take segment."""
    out: dict[str, list[TextSegment]] = {}
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            take = cmu_take_from_name(row["cmu_take"])
            text = _clean(row["sentence"])
            if take and text:
                out.setdefault(take, []).append(TextSegment(KITML, row["kitml_id"], 0.0, None, [text],
                                                            float(row["duration_sec"])))
    return out


def read_cmu_texts(folder: Path, exclude: set[str] = frozenset()) -> dict[str, list[TextSegment]]:
    """Every sentence source in ``shared/data/cmu_texts`` that is present and not excluded, merged by take."""
    out: dict[str, list[TextSegment]] = {}
    for name, fname, reader in ((HUMANML3D, "humanml3d_cmu_segments.csv", read_humanml3d),
                                (KITML, "kitml_cmu_segments.csv", read_kitml)):
        if name in exclude or not (folder / fname).is_file():
            continue
        for take, segs in reader(folder / fname).items():
            out.setdefault(take, []).extend(segs)
    return out
