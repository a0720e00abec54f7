"""Retrying a network call with exponential backoff.

A PACS under load drops connections and answers late; a pull of a few hundred studies should not
fail on the first hiccup, nor hammer a busy server. Waits are ``backoff * 2**k`` seconds.

Examples
--------
>>> calls = []
>>> def flaky():
...     calls.append(1)
...     if len(calls) < 3:
...         raise ConnectionError("dropped")
...     return "ok"
>>> with_retries(flaky, attempts=4, backoff=0, retry_on=(ConnectionError,)), len(calls)
('ok', 3)
"""
from __future__ import annotations

import time
from typing import Callable, TypeVar

__all__ = ["with_retries"]

T = TypeVar("T")


def with_retries(function: Callable[[], T], *, attempts: int = 4, backoff: float = 1.0,
                 retry_on: tuple[type[BaseException], ...] = (OSError,)) -> T:
    """``function()``, called again after ``backoff * 2**k`` seconds when it raises one of ``retry_on``.

    The last failure is raised after ``attempts`` calls.

    Examples
    --------
    >>> with_retries(lambda: 42)
    42
    """
    for attempt in range(attempts):
        try:
            return function()
        except retry_on:
            if attempt == attempts - 1:
                raise
            time.sleep(backoff * 2 ** attempt)
    raise AssertionError("unreachable")
