"""Network configs stored in weights sidecars.

A dataclass that mixes in :class:`SidecarConfig` round-trips through the sidecar's JSON and ignores keys it does not
know, so a sidecar written by older or newer code still loads.
"""
from __future__ import annotations

from dataclasses import asdict, fields


class SidecarConfig:
    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict):
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})
