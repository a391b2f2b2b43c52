"""The chat page's handlers called directly (the browser tests drive the page itself)."""
from __future__ import annotations

import gradio as gr


def test_the_message_box_is_emptied_once_so_text_typed_while_the_reply_streams_stays(shop):
    from assistant.serving.ui import _ChatView

    view = _ChatView(shop, None)
    updates = list(view.respond("waterproof hiking jacket under $100", [], "ui-box-1", None))
    boxes = [u[1] for u in updates]
    assert len(updates) >= 3 and boxes[0] == ""  # the sent message leaves the box at once
    # Every later update leaves the box alone: a streamed chunk must not wipe what the shopper is typing.
    assert all(b == gr.skip() for b in boxes[1:]), boxes
