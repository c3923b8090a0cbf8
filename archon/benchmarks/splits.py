"""Which items a run answers: the seeded dev/test split, a seeded sample, a limit.

The paper searches architectures on a random 20% of a benchmark (dev) and reports on the other
80% (test). A split is a pure function of the item ids and a seed, so every run and machine
agrees on it whatever the input order.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence

from ..errors import ArchonError
from .base import Item

__all__ = ["SPLITS", "select_items", "split_items"]

SPLITS = ("all", "dev", "test")


def _split_rank(item_id: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}\x00{item_id}".encode()).hexdigest()


def split_items(items: Sequence[Item], split: str = "all", seed: int = 0, dev_fraction: float = 0.2) -> list[Item]:
    """The ``dev`` or ``test`` part of ``items`` (or ``all``), in their original order.

    The items are ranked by a hash of ``(seed, id)`` and the first ``round(n * dev_fraction)``
    form the dev split (the paper searches on a random 20% and reports on the other 80%).
    A pure function of the item ids: the same ids and seed give the same split on every run
    and machine, whatever the input order, and dev and test are disjoint and cover all items.
    """
    if split not in SPLITS:
        raise ArchonError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")
    if not 0.0 <= dev_fraction <= 1.0:
        raise ArchonError(f"dev_fraction must be in [0, 1], not {dev_fraction}")
    items = list(items)
    if split == "all":
        return items
    ranked = sorted(items, key=lambda it: (_split_rank(str(it.id), seed), str(it.id)))
    n_dev = round(len(items) * dev_fraction)
    dev_ids = {str(it.id) for it in ranked[:n_dev]}
    return [it for it in items if (str(it.id) in dev_ids) == (split == "dev")]


def select_items(
    items: Sequence[Item],
    *,
    split: str = "all",
    limit: int | None = None,
    sample: int | None = None,
    seed: int = 0,
    dev_fraction: float = 0.2,
) -> list[Item]:
    """Split, then a seeded random ``sample`` (original order kept), then the first ``limit``."""
    ids = [str(it.id) for it in items]
    if len(set(ids)) != len(ids):
        dupes = sorted({i for i in ids if ids.count(i) > 1})[:5]
        raise ArchonError(
            f"benchmark items have duplicate ids ({', '.join(dupes)}); ids must be unique to record and resume a run"
        )
    chosen = split_items(items, split, seed, dev_fraction)
    if sample is not None:
        if sample < 0:
            raise ArchonError("--sample must be >= 0")
        if sample < len(chosen):
            keep = set(random.Random(seed).sample(range(len(chosen)), sample))
            chosen = [it for i, it in enumerate(chosen) if i in keep]
    if limit is not None:
        if limit < 0:
            raise ArchonError("--limit must be >= 0")
        chosen = chosen[:limit]
    return chosen
