"""Stopping background tasks."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any


async def cancel_and_wait(tasks: Iterable[asyncio.Future[Any]]) -> None:
    """Cancel every task, then wait for each to end, so nothing still runs once a stop returns.

    A task's own error or cancellation is not the stopper's to raise; anything beyond ``Exception``
    (KeyboardInterrupt, SystemExit) still propagates.
    """
    pending = list(tasks)
    for task in pending:
        if not task.done():
            task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
