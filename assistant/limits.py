"""Input limits shared by every way in (REST, server-sent events, the Gradio chat, widget and agent view).

Each path refuses text over these limits with a clear message before any processing, so no input can make
the server work for long: everything downstream (parsing, redaction, the prompt) sees bounded text.
"""
from __future__ import annotations

import re

MAX_MESSAGE_CHARS = 2_000  # one chat message; the dialogue layer itself reads the first 1,000 (with a notice)
MAX_CONVERSATION_CHARS = 20_000  # a conversation pasted into agent assist
MAX_CONVERSATION_TURNS = 200  # turns in an agent-assist conversation
MAX_ID_CHARS = 200  # session, user and product ids
MAX_BODY_BYTES = 1 << 20  # any request body (API and Gradio): far above a valid request, counted on the stream
MAX_CHAT_HISTORY = 40  # chat messages a browser sends back with each turn; older ones are dropped


# A lone UTF-16 surrogate ("\ud800" is valid JSON, and a browser sends one pasted from broken text) is a Python str
# that cannot be encoded: SQLite, the tokenizer and every UTF-8 response would fail on it.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_text(text: str) -> str:
    """The text with every lone surrogate replaced by U+FFFD, so it can be stored, embedded and sent back."""
    return _LONE_SURROGATE.sub("\ufffd", text) if isinstance(text, str) else text


class InputTooLong(ValueError):
    """Text over one of the limits above; the message says which and by how much."""


def check_message(message: object, limit: int = MAX_MESSAGE_CHARS, what: str = "message") -> str:
    """The message when it is a non-empty string within the limit; otherwise InputTooLong / ValueError."""
    if not isinstance(message, str) or not message.strip():
        raise ValueError(f"{what} must be a non-empty string")
    if len(message) > limit:
        raise InputTooLong(f"{what} is {len(message):,} characters long; the limit is {limit:,}")
    return message
