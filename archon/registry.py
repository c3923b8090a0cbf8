"""One registry shape for everything archon finds by name, and the ``archon.plugins`` entry points.

Components, providers, benchmarks, prices and vote keys are each a :class:`Registry`. Third-party
packages plug in as simonw/llm's plugins do: an entry point in the group ``archon.plugins`` names a
module (or a callable) that registers things when it is loaded::

    [project.entry-points."archon.plugins"]
    my_plugin = "my_package.archon_plugin"

Entry points are loaded once per process, on the first lookup that misses or the first listing
of any registry, so ``import archon`` stays fast and a lower layer can find, by name, what a
higher layer registers (components find benchmarks' vote keys this way).
"""

from __future__ import annotations

import difflib
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import entry_points
from types import ModuleType
from typing import Generic, TypeVar

from .errors import ArchonError

T = TypeVar("T")

PLUGIN_GROUP = "archon.plugins"

_plugins_lock = threading.RLock()
_plugins_loaded = False


def load_plugins() -> None:
    """Load every ``archon.plugins`` entry point, once per process.

    An entry point names a module (importing it registers its things) or a callable (called with no
    arguments). A plugin that fails to load is reported as a warning naming it; the rest still load.
    """
    global _plugins_loaded
    with _plugins_lock:
        if _plugins_loaded:
            return
        _plugins_loaded = True  # first: a plugin's own lookups while it loads must not load it again
        seen = set()
        for ep in entry_points(group=PLUGIN_GROUP):
            if (ep.name, ep.value) in seen:  # the same distribution found twice on the path
                continue
            seen.add((ep.name, ep.value))
            try:
                loaded = ep.load()
                if callable(loaded) and not isinstance(loaded, ModuleType):
                    loaded()
            except Exception as e:  # one broken plugin must not take archon down with it
                warnings.warn(
                    f"archon plugin {ep.name!r} ({ep.value}) failed to load: {type(e).__name__}: {e}",
                    RuntimeWarning,
                    stacklevel=2,
                )


class Registry(Generic[T]):
    """Things of one kind by name: ``register``, ``get`` (with "did you mean"), ``unregister``, ``names``.

    ``fold_case`` makes lookups case-insensitive (names keep the case they were registered with).
    A :meth:`child` registry sees its parent's entries and adds its own without changing the
    parent's (an ``Archon``'s own components and generators). :meth:`isolated` undoes, at the end
    of a block, every change made inside it (tests use it so that registrations do not leak).
    """

    def __init__(
        self,
        kind: str,
        *,
        error: type[ArchonError] = ArchonError,
        fold_case: bool = False,
        parent: Registry[T] | None = None,
    ):
        self.kind = kind
        self.error = error
        self.fold_case = fold_case
        self.parent = parent
        self._entries: dict[str, T] = {}
        self._names: dict[str, str] = {}  # lookup key (a name or an alias) -> registered name

    def _key(self, name: str) -> str:
        return name.lower() if self.fold_case else name

    def register(self, name: str, value: T, *, aliases: tuple[str, ...] = ()) -> T:
        """Add ``value`` under ``name`` (and ``aliases``), replacing what had that name."""
        if not isinstance(name, str) or not name.strip():
            raise self.error(f"a {self.kind} needs a non-empty name, not {name!r}")
        self.unregister(name, missing_ok=True)
        self._entries[name] = value
        for n in (name, *aliases):
            self._names[self._key(n)] = name
        return value

    def unregister(self, name: str, *, missing_ok: bool = False) -> None:
        """Remove ``name`` and its aliases (from this registry only, never from a parent)."""
        registered = self._names.get(self._key(name))
        if registered is None:
            if missing_ok:
                return
            raise self.error(f"no {self.kind} {name!r} is registered here")
        del self._entries[registered]
        for k in [k for k, v in self._names.items() if v == registered]:
            del self._names[k]

    def _find_here(self, name: str) -> T | None:
        registered = self._names.get(self._key(name))
        if registered is not None:
            return self._entries[registered]
        return self.parent._find_here(name) if self.parent is not None else None

    def find(self, name: str) -> T | None:
        """The entry for ``name`` (or an alias), else None. A miss loads the plugins once, then looks again."""
        found = self._find_here(name)
        if found is None and not _plugins_loaded:
            load_plugins()
            found = self._find_here(name)
        return found

    def get(self, name: str) -> T:
        """The entry for ``name``; an unknown name raises ``error`` with the closest known name."""
        found = self.find(name)
        if found is None:
            raise self.error(self.unknown(name))
        return found

    def unknown(self, name: str) -> str:
        """The message for a name nothing is registered under: the closest known name, and all of them."""
        known = self.names()
        close = difflib.get_close_matches(name, known, n=1) if isinstance(name, str) else []
        if not close and isinstance(name, str):  # a misspelt alias ("gemni") or name in another case
            keys = self._lookup_keys()
            close = [keys[c] for c in difflib.get_close_matches(self._key(name), list(keys), n=1)]
        return (
            f"unknown {self.kind} {name!r}"
            + (f" (did you mean {close[0]!r}?)" if close else "")
            + f"; known: {', '.join(known) or 'none'}"
        )

    def _lookup_keys(self) -> dict[str, str]:
        """Every lookup key (names and aliases, case-folded where lookups are), to the name it stands for."""
        keys = self.parent._lookup_keys() if self.parent is not None else {}
        keys.update(self._names)
        return keys

    def names(self) -> list[str]:
        """Every registered name (this registry's and its parent's), sorted; loads the plugins first."""
        load_plugins()
        return sorted(self._all())

    def _all(self) -> dict[str, T]:
        entries = self.parent._all() if self.parent is not None else {}
        if self.fold_case:  # a local entry hides the parent's of the same name in any case
            mine = {n.lower() for n in self._entries}
            entries = {n: v for n, v in entries.items() if n.lower() not in mine}
        entries.update(self._entries)
        return entries

    def values(self) -> list[T]:
        load_plugins()
        return list(self._all().values())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.find(name) is not None

    def child(self) -> Registry[T]:
        """A registry that adds to this one without changing it."""
        return Registry(self.kind, error=self.error, fold_case=self.fold_case, parent=self)

    @contextmanager
    def isolated(self) -> Iterator[Registry[T]]:
        """Every registration and removal made inside the block is undone at its end."""
        entries, names = dict(self._entries), dict(self._names)
        try:
            yield self
        finally:
            self._entries, self._names = entries, names

    @contextmanager
    def registered(self, name: str, value: T, *, aliases: tuple[str, ...] = ()) -> Iterator[T]:
        """``value`` under ``name`` for the length of the block; what was there before comes back."""
        with self.isolated():
            yield self.register(name, value, aliases=aliases)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._entries)} entries{', with a parent' if self.parent else ''})"
