"""Privacy and session guarantees of the loaded shop: a session id names a conversation of one user only, "delete
my data" removes exactly that user's rows and leaves no byte of them in any file of the data directory, and a
session's memory stays bounded however long it runs."""
from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path

import pytest


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def test_the_same_session_id_from_another_user_is_another_conversation(shop):
    session = uid("shared")
    alice, bob = uid("alice"), uid("bob")
    first = shop.chat(session, "running shoes under $60", user_id=alice)
    assert "under $60" in first.constraints
    assert "$60" not in shop.chat(session, "show me more", user_id=bob).constraints
    assert "$60" not in shop.chat(session, "show me more").constraints  # anonymous: not alice's either
    assert "under $60" in shop.chat(session, "show me more", user_id=alice).constraints


@pytest.fixture
def own_shop(demo_shop, tmp_path):
    """A shop with its own data directory (events, chats, models), so every byte on disk can be inspected."""
    import shutil
    import sqlite3

    from assistant.recsys.train import ensure_fast_predictor
    from assistant.reply.template import TemplateBackend
    from assistant.serving.shop import load_shop

    config, index, _ = demo_shop
    own = replace(config, data_dir=tmp_path / "data")
    own.data_dir.mkdir()
    with sqlite3.connect(str(config.events_path)) as src, sqlite3.connect(str(own.events_path)) as dst:
        src.backup(dst)
    shutil.copytree(config.data_dir / "demo", own.data_dir / "demo")
    return load_shop(own, backend=TemplateBackend(), index=index, log=lambda s: None, prepare=ensure_fast_predictor)


def _files_containing(folder: Path, needle: bytes) -> list[str]:
    return [str(p) for p in folder.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_delete_user_leaves_no_trace_on_disk_and_keeps_other_users(own_shop):
    shop = own_shop
    victim, other = "delete-me-7f3a9c", "keep-me-51b2e0"
    secret_word, kept_word = "zanzibarquokka", "tasmanianwombat"
    item = next(iter(shop.recommender.id_to_index))
    session = "shared-session-1"  # both use the same client session id: bound to each user, still separate
    for _ in range(3):
        shop.log_event(victim, item, "click")
        shop.log_event(other, item, "click")
        shop.chat(session, f"a {secret_word} tent under $200", user_id=victim)
        shop.chat(session, f"a {kept_word} tent under $300", user_id=other)
    data = shop.config.data_dir
    assert _files_containing(data, secret_word.encode()) and _files_containing(data, victim.encode())

    deleted = shop.delete_user(victim)
    assert deleted["events"] == 3 and deleted["messages"] == 6 and deleted["sessions"] == 1

    for needle in (victim, secret_word):
        assert _files_containing(data, needle.encode()) == [], f"{needle!r} still on disk"
    # The other user's rows, words and live session are untouched.
    assert len(shop.events.history(other)) == 3
    transcript = shop.chatlog.conversation(shop.session_key(session, other))
    assert len(transcript) == 6 and kept_word in transcript[0]["content"]
    assert "under $300" in shop.chat(session, "any more?", user_id=other).constraints


def test_a_zero_price_is_refused_with_a_notice_and_the_session_keeps_working(shop):
    session = uid("zero")
    out = shop.chat(session, "tent around $0")
    assert out.reply and any("$0" in n for n in out.notices) and "$0" not in out.constraints
    for message in ("tent under $0", "tent for 0 dollars", "tent around $99999999999999999999", "cheaper", "tent"):
        out = shop.chat(session, message)
        assert out.reply, message
    assert "under $50" in shop.chat(session, "tent under $50").constraints


def test_a_failed_turn_leaves_the_session_as_it_was(shop, monkeypatch):
    session = uid("fail")
    shop.chat(session, "tent under $100")
    monkeypatch.setattr(shop.assistant.ranker, "find_products", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(RuntimeError):
        shop.chat(session, "only Trailhaven, around $0.5, in red")
    monkeypatch.undo()
    assert shop.chat(session, "show me more").constraints.endswith("under $100")


def test_session_memory_is_bounded_however_long_the_conversation(shop):
    import pickle

    session = uid("long")
    sizes = []
    for turn in range(60):
        shop.chat(session, ["tent under $200", "cheaper", "not the first one", "any in green?", "more like the second one",
                            "what about sleeping bags", "under $80"][turn % 7])
        if turn in (19, 59):
            state = shop.assistant.sessions.peek(shop.session_key(session, None))
            sizes.append(len(pickle.dumps((state.state, state.history))))
    assert len(state.history) <= shop.assistant.config.history_turns
    assert sizes[1] < 1.5 * sizes[0], sizes  # 40 more turns add (almost) nothing
