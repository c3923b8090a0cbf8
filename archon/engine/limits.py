"""A concurrency cap whose waiters are served by priority, then in arrival order.

The engine gives calls of deeper layers higher priority: under a cap, queries that are nearly
done finish first instead of queueing behind the first layer of every other query. That shortens
a batch's tail and frees each query's memory sooner.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools


class PrioritySemaphore:
    def __init__(self, value: int):
        if value < 1:
            raise ValueError("a concurrency cap must be at least 1")
        self._free = value
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    async def acquire(self, priority: int = 0) -> None:
        """Lower ``priority`` values are served first."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._order), fut))
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # granted just as we were cancelled: hand the slot on
            raise

    def release(self) -> None:
        while self._waiters:
            _, _, fut = heapq.heappop(self._waiters)
            if not fut.done():
                fut.set_result(None)
                return
        self._free += 1

    def slot(self, priority: int = 0) -> "_Slot":
        return _Slot(self, priority)


class _Slot:
    def __init__(self, sem: PrioritySemaphore, priority: int):
        self._sem = sem
        self._priority = priority

    async def __aenter__(self) -> None:
        await self._sem.acquire(self._priority)

    async def __aexit__(self, *exc: object) -> None:
        self._sem.release()
