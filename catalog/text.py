"""Text every layer can store, embed and send back. A lone UTF-16 surrogate ("\\ud800" is valid JSON, and browsers
send one pasted from broken text) is a Python str that no UTF-8 encoder, tokenizer or database accepts: it is
replaced by U+FFFD wherever outside text comes in (catalog rows, events, chat messages, ids).
"""
from __future__ import annotations

import re

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_text(text: str) -> str:
    """The text with every lone surrogate replaced by U+FFFD (non-strings are returned unchanged)."""
    return _LONE_SURROGATE.sub("\ufffd", text) if isinstance(text, str) else text
