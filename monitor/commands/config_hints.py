"""Plain-word help for configuration mistakes: "did you mean ...?", secrets typed where a name goes.

Pure functions, so the rules that decide what a message says are tested on their own. Nothing here ever
returns the text it was given when that text may be a secret: a message about a pasted API key must not
carry the key into the journal.
"""

from __future__ import annotations

import difflib
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest known word, or the known words when none is close."""
    names = sorted(set(known))
    close = difflib.get_close_matches(word, names, n=1, cutoff=0.6)
    if close:
        return f"; did you mean '{close[0]}'?"
    if names:
        return f"; known: {', '.join(names)}"
    return ""


def entropy_bits_per_char(text: str) -> float:
    """Shannon entropy of the text's characters: about 4-6 bits for random keys, less for names."""
    counts = Counter(text)
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def looks_like_secret(value: str) -> bool:
    """Whether a value given where an environment variable's *name* belongs is probably the secret.

    Exchange API keys are 64 letters and digits of both cases, Telegram tokens ``<digits>:<secret>``,
    hex secrets long runs of ``[0-9a-f]``. Variable names are words joined by ``_``, mostly one case.
    """
    if len(value) < 16:
        return False
    if not ENV_NAME.match(value):
        return True  # ':' '/' '+' '=' and the like: tokens and base64, never a variable name
    lower = any(c.islower() for c in value)
    upper = any(c.isupper() for c in value)
    digits = sum(c.isdigit() for c in value)
    if "_" not in value and len(value) >= 24 and digits >= 3:
        return True
    mixed = lower and upper and digits >= 2
    return mixed and entropy_bits_per_char(value) >= 3.5 and value.count("_") <= 1


def unset_variables(text: str, env: Mapping[str, str]) -> list[str]:
    """The ``$NAME`` / ``${NAME}`` references in ``text`` that ``env`` does not define."""
    return [m.group(1) for m in _VARIABLE.finditer(text) if m.group(1) not in env]


def expand(text: str, env: Mapping[str, str]) -> str:
    """``$NAME`` and ``${NAME}`` replaced from ``env``; an unset reference is left as written."""
    return _VARIABLE.sub(lambda m: env.get(m.group(1), m.group(0)), text)


def unset_message(names: list[str]) -> str:
    """Why a path with an unset variable cannot be read, naming the variable (not the path)."""
    parts = []
    for name in names:
        if name == "CREDENTIALS_DIRECTORY":
            parts.append(
                "$CREDENTIALS_DIRECTORY is not set: systemd sets it for a unit with LoadCredential=; "
                "outside systemd give the file's full path or use the *_env setting"
            )
        else:
            parts.append(f"${name} is not set")
    return "; ".join(parts)
