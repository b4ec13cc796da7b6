"""Detection of secrets pasted into tickets: private keys, passwords, API tokens.

Findings name the kind and position only; the secret itself is never copied into a comment or log line."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class SecretFinding:
    """One secret found in a text: what kind it looks like and where it starts (never the value)."""

    kind: str
    start: int


_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("private key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")),
    ("AWS access key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b")),
    ("Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b")),
    ("Atlassian API token", re.compile(r"\bATATT[A-Za-z0-9_\-=]{20,}\b")),
    ("JSON web token", re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}")),
    (
        "password",
        re.compile(
            r"(?i)\b(?:password|passwd|pwd|passphrase|secret|api[_ -]?key)\s*[:=]\s*(?!\s*$)[^\s'\"<>]{4,}"
        ),
    ),
    ("connection string with password", re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s:/@]+:[^\s@/]{3,}@[^\s/]+")),
)


def find_secrets(text: str) -> list[SecretFinding]:
    """Every secret-looking span in `text`, in order of position."""
    if not text:
        return []
    return list(_find_secrets(text))


@lru_cache(maxsize=4096)
def _find_secrets(text: str) -> tuple[SecretFinding, ...]:
    # The sweeper looks at the same tickets again and again: their texts are scanned once.
    found = [SecretFinding(kind, m.start()) for kind, pattern in _PATTERNS for m in pattern.finditer(text)]
    return tuple(sorted(found, key=lambda f: f.start))


def redact(text: str) -> str:
    """The text with every secret-looking span replaced by `[redacted <kind>]`."""
    for kind, pattern in _PATTERNS:
        text = pattern.sub(f"[redacted {kind}]", text)
    return text
