"""API keys: from the environment, a `.env` file, a JSON file or a dict.

``NAME``, ``NAME_2``, ``NAME_3``, ... form the key ring of one variable; a provider moves to the
next key when the current one is rate-limited. Keys are never logged or put in errors.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from dotenv import dotenv_values

from ..errors import ConfigError


def _read_key_file(path: Path) -> dict[str, Any]:
    """A key file's NAME: key object; what is wrong with it, in words (never its content: it holds secrets)."""
    where = f"API key file {str(path)!r}"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{where} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"{where} is a folder, not a file") from None
    except PermissionError:
        raise ConfigError(f"{where} cannot be read: no permission") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{where} is not text (UTF-8 JSON expected)") from None
    except OSError as e:
        raise ConfigError(f"{where} cannot be read: {e.strerror or type(e).__name__}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:  # the parser's words and position, not the text around it
        raise ConfigError(f"{where} is not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}") from None
    if not isinstance(data, dict):
        raise ConfigError(f'{where} must hold a JSON object of NAME: key, as in {{"OPENAI_API_KEY": "sk-..."}}')
    return data


class KeyStore:
    """Where keys are looked up, in order: an explicit dict or JSON file, the environment, then a `.env` file."""

    def __init__(self, keys: Mapping[str, str] | str | Path | None = None, *, env_file: str | Path | None = ".env"):
        self._explicit: dict[str, str] = {}
        if isinstance(keys, (str, Path)):
            keys = _read_key_file(Path(keys))
        if keys:
            for name, value in keys.items():
                # The reference format also allows a list of keys per name.
                if not isinstance(value, str) and not (
                    isinstance(value, list) and all(isinstance(v, str) for v in value)
                ):
                    raise ConfigError(f"API keys: the value of {name!r} must be a key (a string) or a list of keys")
                if isinstance(value, list):
                    for i, v in enumerate(value):
                        self._explicit[name if i == 0 else f"{name}_{i + 1}"] = str(v)
                else:
                    self._explicit[name] = str(value)
        self._dotenv: dict[str, str] = {}
        if env_file is not None and Path(env_file).is_file():
            self._dotenv = {k: v for k, v in dotenv_values(env_file).items() if v}

    def get(self, name: str) -> str | None:
        return self._explicit.get(name) or os.environ.get(name) or self._dotenv.get(name)

    def ring(self, name: str) -> list[str]:
        """All keys of ``name``: NAME, NAME_2, NAME_3, ... (a gap ends the ring)."""
        out = []
        first = self.get(name)
        if first:
            out.append(first)
        i = 2
        while (k := self.get(f"{name}_{i}")) is not None:
            out.append(k)
            i += 1
        return out

    def names(self) -> set[str]:
        return set(self._explicit) | set(os.environ) | set(self._dotenv)


class KeyRing:
    """The keys of one provider and which one is in use; a rate-limited key hands over to the next
    key that is not itself cooling down from a rate limit."""

    #: Seconds a rate-limited key rests when the server did not say (Retry-After).
    cooldown = 2.0

    def __init__(self, keys: list[str]):
        self.keys = list(keys)
        self._index = 0
        self._resting_until = [0.0] * len(self.keys)

    def __bool__(self) -> bool:
        return bool(self.keys)

    def current(self) -> tuple[int, str]:
        return self._index, self.keys[self._index]

    def rate_limited(self, index: int, retry_after: float | None = None) -> bool:
        """Key ``index`` got a 429. True when the ring now holds a rested key to try at once;
        False when every key is resting, so the caller backs off as with a single key."""
        now = time.monotonic()
        # A negative or NaN Retry-After would mark the key rested at once and skip the backoff.
        rest = retry_after if retry_after is not None and retry_after > 0 else self.cooldown
        self._resting_until[index] = now + rest
        for step in range(len(self.keys)):
            j = (self._index + step) % len(self.keys)
            if self._resting_until[j] <= now:
                self._index = j
                return True
        return False


_SECRET_PATTERN = re.compile(r"""(sk-[A-Za-z0-9_\-]{6,}|Bearer\s+\S+|(?i:api[_-]?key)["']?\s*[=:]\s*["']?[^\s"',]+)""")


def redact(text: str, secrets: list[str] | tuple[str, ...] = (), *, limit: int | None = None) -> str:
    """Remove known secrets and anything shaped like a key from ``text``, then cut it to ``limit``
    characters: in that order, so that no key cut in two escapes being recognised."""
    # Longest first: a key that holds another key is removed whole.
    for s in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(s, "***")
    text = _SECRET_PATTERN.sub("***", text)
    return text if limit is None else text[:limit]


def url_password(url: str | None) -> str | None:
    """The password of a ``scheme://user:password@host/...`` URL, if it holds one."""
    try:
        return urlsplit(url).password if url else None
    except ValueError:
        return None


def without_password(url: str) -> str:
    """``url`` with any password in it replaced by ``***`` (safe to write to a file or show)."""
    password = url_password(url)
    if not password:
        return url
    parts = urlsplit(url)
    userinfo, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{userinfo.partition(':')[0]}:***@{host}"))


class StreamRedactor:
    """``redact`` for text that arrives in pieces: a key split over two pieces is still found.

    What could be the start of a key (the text after the last whitespace, since keys hold
    none) is held back until more arrives; ``feed`` returns what is safe to pass on, ``flush``
    the rest at the end. Known keys and key shapes without whitespace are found wherever the
    pieces were cut."""

    #: Held-back text longer than this is passed on but for its last ``_KEEP`` characters
    #: (a run of text with no whitespace is not kept from the reader for long).
    _HOLD = 1024
    _KEEP = 256

    def __init__(self, secrets: list[str] | tuple[str, ...] = ()):
        self._secrets = list(secrets)
        self._pending = ""

    def feed(self, piece: str) -> str:
        text = redact(self._pending + piece, self._secrets)
        cut = max(text.rfind(c) for c in " \t\n\r") + 1
        if len(text) - cut > self._HOLD:
            cut = len(text) - max(self._KEEP, max(map(len, self._secrets), default=0))
        self._pending = text[cut:]
        return text[:cut]

    def flush(self) -> str:
        text, self._pending = redact(self._pending, self._secrets), ""
        return text
