"""Which model serves each task, loaded lazily once and kept warm.

A :class:`ModelEntry` names a model, says what it was trained on, and knows how to load it. The first call to
:meth:`ModelEntry.get` loads it (under a lock, so two jobs never load it twice); later calls reuse the object.
For each task the *active* entry is the first registered one that is available: learned models register ahead of
the classical baselines when their weights are present, so they replace the baselines without other changes.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..schema import ModelInfo


@dataclass(eq=False)
class ModelEntry:
    name: str
    task: str
    kind: str  # "learned" | "baseline"
    training_data: str
    load: Callable[[], Any]
    available: Callable[[], bool] = lambda: True
    note: str | None = None
    requires: str = "its weights or data"  # what must be present for ``available()``, for error messages
    eval_summary: dict = field(default_factory=dict)  # the sidecar's eval block (models.weights.sidecar_eval)
    preload: bool = False  # nothing to load (analytic methods): mark it loaded at once
    _obj: Any = None
    _loaded: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self):
        if self.preload:
            self.get()

    @property
    def loaded(self) -> bool:
        return self._loaded

    def get(self):
        """The loaded model (loads it on first use)."""
        if not self._loaded:
            with self._lock:
                if not self._loaded:
                    self._obj = self.load()
                    self._loaded = True
        return self._obj

    def info(self, active: bool) -> ModelInfo:
        ok = bool(self.available())
        note = self.note if ok else f"not available: needs {self.requires}. {self.note or ''}".strip()
        return ModelInfo(name=self.name, task=self.task, kind=self.kind, loaded=self.loaded,
                         training_data=self.training_data, eval_summary=self.eval_summary,
                         active=active, available=ok, note=note)


class Registry:
    def __init__(self):
        self._entries: list[ModelEntry] = []

    def register(self, entry: ModelEntry, first: bool = False) -> None:
        if first:
            self._entries.insert(0, entry)
        else:
            self._entries.append(entry)

    def entries(self) -> list[ModelEntry]:
        return list(self._entries)

    def named(self, name: str, task: str) -> ModelEntry:
        """The entry called ``name`` for ``task`` (RequestError-friendly KeyError otherwise)."""
        for e in self._entries:
            if e.name == name and e.task == task:
                return e
        names = ", ".join(e.name for e in self._entries if e.task == task)
        raise KeyError(f"no {task} model named {name!r}; registered: {names}")

    def active(self, task: str) -> ModelEntry:
        for e in self._entries:
            if e.task == task and e.available():
                return e
        for e in self._entries:
            if e.task == task:
                return e  # unavailable: its loader raises a clear error
        raise KeyError(f"no model is registered for task {task!r}")

    def infos(self) -> list[ModelInfo]:
        active = {}
        for e in self._entries:
            if e.task not in active and e.available():
                active[e.task] = e
        return [e.info(active=active.get(e.task) is e) for e in self._entries]
