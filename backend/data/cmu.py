"""CMU library facts every CMU reader needs: the true frame rate of each take's BVH conversion.

cgspeed's BVH conversions of the CMU library label every take 120 fps, but CMU captured some subjects at 60 fps;
the 24-fps Daz-friendly files sub-sampled from them are therefore really 12 fps (played at 24 they move twice as
fast). ``resources/cmu_take_rates.csv`` (from ``shared/data/cmu_daz24/take_rates.csv``; columns ``take_id``,
``capture_fps``, ``true_fps_of_daz24_bvh``, ``evidence``) records the capture rate of every take, decided from the
AMASS frame rate of that take, else the subject's majority, else CMU's own index.
"""
from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

TAKE_RATES = Path(__file__).parent / "resources" / "cmu_take_rates.csv"


@lru_cache(maxsize=1)
def capture_rates() -> dict[str, float]:
    """'SS_TT' -> the rate CMU captured the take at (120 or 60)."""
    with open(TAKE_RATES, newline="", encoding="utf-8") as f:
        return {row["take_id"]: float(row["capture_fps"]) for row in csv.DictReader(f)}


def true_fps(take: str | None, header_fps: float) -> tuple[float, bool]:
    """The real frame rate of a cgspeed-derived CMU BVH whose header says ``header_fps``, and whether it differs.

    cgspeed's headers assume a 120-fps capture; a 60-fps take plays at half the header rate. Takes not in the
    table keep their header rate. A header rate within 0.001 fps of a whole number is that number.
    """
    if abs(header_fps - round(header_fps)) < 1e-3:  # BVH frame times are rounded (0.041667 s is 24 fps)
        header_fps = float(round(header_fps))
    rate = capture_rates().get(take or "")
    if rate is None or rate >= 120.0:
        return header_fps, False
    return header_fps * rate / 120.0, True
