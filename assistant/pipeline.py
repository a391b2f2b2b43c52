"""The assistant pipeline: one chat message in; ranked products with reasons, then a grounded, streamed reply out.

    assistant = Assistant(index, backend=TemplateBackend(), policies=PolicyIndex(index.client, index.embedder))
    for event in assistant.respond("session-1", "waterproof hiking jacket under $100"):
        ...  # a ProductsEvent first, then TokenEvents, maybe a ReplaceEvent, then a DoneEvent (assistant/events.py)

Flow per message: dialogue (assistant/dialogue/context.py: carried constraints, references, kind of message) ->
retrieval and ranking (assistant/ranking.py) or the shop's policies for a service question -> the reply from the
facts of exactly those products (assistant/reply/: facts, prompt, a Backend) -> every sentence verified
(assistant/reply/grounding.py) before the shopper sees it; a failing one swaps in the grounded template reply.
"""
from __future__ import annotations

import copy
import logging
import re
from dataclasses import dataclass, field
from typing import Callable, Generator, Iterator

from assistant.dialogue.acts import ActClassifier
from assistant.dialogue.context import TurnContext, Vocabulary, update_context
from assistant.dialogue.language import LanguageCheck
from assistant.events import (
    DoneEvent,
    ProductsEvent,
    RankedProduct,
    ReplaceEvent,
    TokenEvent,
    Turn,
    TurnEvent,
    collect_turn,
)
from assistant.ranking import Ranker, RankingConfig
from assistant.reply.backends import Backend
from assistant.reply.facts import ReplyFacts
from assistant.reply.grounding import Verdict, verify
from assistant.reply.prompt import build_messages
from assistant.reply.template import TemplateBackend, notice_sentences, word_chunks
from assistant.sessions import MemorySessions, Session, SessionStore
from catalog.index import ProductIndex
from catalog.policies import PolicyIndex
from catalog.text import valid_text

log = logging.getLogger("assistant.pipeline")


@dataclass
class AssistantConfig:
    ranking: RankingConfig = field(default_factory=RankingConfig)  # what is shown and how it is ordered
    history_turns: int = 6  # chat messages kept per session and passed to the reply model
    contact: str = ""  # how a shopper reaches a person, offered when the policies do not answer
    max_sessions: int = 10_000  # least recently used sessions are forgotten beyond this


CartAction = Callable[[str, "str | None", str, str], bool]  # (session, user, product id, "add" | "remove") -> done
# One-line answers, and comparisons: a side-by-side is the facts themselves, and the default model's own comparisons
# ("it is heavier than ...", "compared twice before") claimed what no fact says while naming real products.
TEMPLATE_ONLY = frozenset({"smalltalk", "out_of_scope", "cart", "compare"})


class Assistant:
    def __init__(self, index: ProductIndex, backend: Backend | None = None, policies: PolicyIndex | None = None,
                 ranker: Ranker | None = None, vocab: Vocabulary | None = None, config: AssistantConfig | None = None,
                 acts: ActClassifier | None = None, language: LanguageCheck | None = None,
                 on_cart: CartAction | None = None, sessions: SessionStore | None = None):
        self.config = config or AssistantConfig()
        self.acts = acts  # the dialogue-act classifier; None: every message is read as a search
        self.language = language  # flags messages in a language the catalog is not in
        self.on_cart = on_cart  # carries out "add it to my cart" (the shop's cart); None: cart requests are declined
        self.index = index
        self.backend: Backend = backend or TemplateBackend()
        self.template = TemplateBackend()
        self.policies = policies
        self.ranker = ranker or Ranker(index, config=self.config.ranking)
        self.vocab = vocab or Vocabulary.from_products(index.all_products())
        self.known_brands = sorted(self.vocab.brands)
        # Conversations between messages: this process's memory, or Redis shared by every replica.
        self.sessions: SessionStore = sessions or MemorySessions(self.config.max_sessions)

    # ---- sessions ------------------------------------------------------------------------------------------

    def reset(self, session_id: str) -> None:
        self.sessions.reset(session_id)

    def forget_user(self, user_id: str, key_prefix: str | None = None) -> int:
        """Drop every session the user chatted in (and every one under key_prefix); returns how many."""
        return self.sessions.forget_user(user_id, key_prefix)

    # ---- one message ---------------------------------------------------------------------------------------

    def respond(self, session_id: str, message: str, user_id: str | None = None) -> Iterator[TurnEvent]:
        """A ProductsEvent first, then TokenEvents, then a DoneEvent with the final, verified reply (the template
        reply when the model's was not grounded)."""
        if not isinstance(message, str) or not message.strip():
            raise ValueError("message must be a non-empty string")
        message = valid_text(message)  # lone surrogates: the tokenizer and every store would fail on them
        with self.sessions.open(session_id) as session:
            if user_id:
                session.user_ids.add(str(user_id))
            before = copy.deepcopy(session.state)
            try:
                yield from self._turn(session, message, user_id, session_id)
            except Exception:
                session.state = before  # a failed turn must not leave what it half-applied carried into the next
                raise

    def chat(self, session_id: str, message: str, user_id: str | None = None) -> Turn:
        """The whole turn at once."""
        return collect_turn(self.respond(session_id, message, user_id))

    def _turn(self, session: Session, message: str, user_id: str | None, session_id: str) -> Iterator[TurnEvent]:
        state = session.state
        note = self.language.notice(message) if self.language is not None else None
        if note and self.language.other_script(message):  # the encoder cannot read it: nothing changes, say so
            ctx = TurnContext(state.constraints.copy(), "", kind="out_of_scope", notices=[note])
        else:
            act = self.acts.predict(message, shown=bool(state.shown)).act if self.acts is not None else None
            ctx = update_context(state, message, self.vocab, act=act)
        notices = list(ctx.notices)
        if note and note not in notices:
            notices.append(note)
        ranked: list[RankedProduct] = []
        snippets: list[dict[str, str]] = []
        actions: list[dict] = []
        if ctx.kind in ("search", "refine"):
            ranked = self.ranker.find_products(ctx, user_id)
            if ctx.more and not any(r.matches for r in ranked):  # "any others?" once everything was shown
                notices.append("That was everything I have that matches what you asked for")
                if not ranked:  # nothing else even close: the products on screen stay there
                    ranked = [RankedProduct(p, "", 0.0) for p in state.shown]
        elif ctx.kind in ("ask_product", "compare", "cart"):  # about products on screen: those, not a new list
            ranked = [RankedProduct(p, "", 0.0) for p in ctx.referenced]
            if ctx.kind == "cart" and len(ctx.referenced) == 1:
                actions = [self._cart(session_id, user_id, ctx.referenced[0].id, ctx.cart_op)]
        elif ctx.kind == "service":
            snippets = self.policy_snippets(self.vocab.generic(message))
        no_match = bool(ranked) and not any(r.matches for r in ranked)
        facts = ReplyFacts.from_products([r.product for r in ranked], [r.reason for r in ranked],
                                         no_match=no_match, constraints_text=ctx.constraints.describe(),
                                         policy_snippets=snippets, kind=ctx.kind, notices=notices, actions=actions,
                                         contact=self.config.contact)
        yield ProductsEvent(ranked, ctx.kind, no_match, ctx.constraints.describe(), notices, snippets, actions)
        reply, verdict = yield from self._reply(facts, ctx.question or message, session)
        if ctx.kind in ("search", "refine"):  # asking about, comparing or buying one keeps the list on screen
            state.record_shown([r.product for r in ranked])
        keep = max(0, self.config.history_turns)  # the reply model never reads more than this
        session.history = [*session.history, {"role": "user", "content": message},
                           {"role": "assistant", "content": reply}][-keep:] if keep else []
        # Saved before the shopper sees the end of the turn: their next message may reach another replica at once.
        self.sessions.save(session_id, session)
        yield DoneEvent(reply, verdict.ok, verdict.problems)

    def _reply(self, facts: ReplyFacts, message: str, session: Session) -> Generator[TurnEvent, None, tuple[str, Verdict]]:
        """Stream the reply sentence by sentence, each verified (with everything before it) before the shopper
        sees it: the first sentence shows after a fraction of the generation time, and no ungrounded sentence is
        ever shown. When a sentence fails, generation stops and the template reply replaces the whole turn:
        a ReplaceEvent when some text was already shown, plain tokens otherwise."""
        which = facts.kind == "ask_product" and not facts.products  # "which product do you mean?"
        if isinstance(self.backend, TemplateBackend) or facts.kind in TEMPLATE_ONLY or which:
            text = self.template.reply(facts, message)
            for chunk in word_chunks(text):
                yield TokenEvent(chunk)
            return text, Verdict(True, [])
        messages = build_messages(facts, message, session.history[-self.config.history_turns:])
        shown, pending, problems = "", "", []
        # A backend that can continue a begun message gets the template's first sentence (grounded by construction)
        # as its start: the shopper reads it at once, instead of after the model's first sentence (seconds on CPU).
        lead = self.template.lead(facts) if self.backend.supports_prefix else ""
        if lead:
            shown = lead + " "
            for word in word_chunks(shown):
                yield TokenEvent(word)
        stream = self.backend.stream(messages, facts, prefix=lead)
        try:
            for chunk in stream:
                pending += chunk
                cut = _sentence_end(pending)
                if cut is None:
                    continue
                verdict = verify(shown + pending[:cut], facts, self.known_brands)
                if not verdict.ok:
                    problems = verdict.problems
                    break
                piece = pending[:cut] if shown else pending[:cut].lstrip()
                shown, pending = shown + piece, pending[cut:]
                for word in word_chunks(piece):
                    yield TokenEvent(word)
            else:
                rest = pending.rstrip() if shown else pending.strip()
                verdict = verify(shown + rest, facts, self.known_brands)
                if verdict.ok:
                    text = shown + rest
                    # What the shop must tell the shopper ("I ignored the price", "that was everything") is said
                    # even when the model left it out.
                    missing = [n for n in notice_sentences(facts) if n.lower().rstrip(".") not in text.lower()]
                    if missing:
                        rest += " " + " ".join(missing)
                    for word in word_chunks(rest):
                        yield TokenEvent(word)
                    return shown + rest, verdict  # exactly the text streamed
                problems = verdict.problems
        except Exception as exc:  # noqa: BLE001 - a failing model must not take the shop down
            log.warning("reply backend failed, using the template reply: %s", exc)
            problems = [f"backend error: {exc}"]
        finally:
            stream.close()  # stops the generation thread: its remaining tokens are not needed
        log.warning("ungrounded reply replaced by the template reply: %s | reply was: %r", "; ".join(problems),
                    (shown + pending)[:300])
        text = self.template.reply(facts, message)
        if shown:
            yield ReplaceEvent(text)
        else:
            for word in word_chunks(text):
                yield TokenEvent(word)
        return text, Verdict(False, problems)

    def _cart(self, session_id: str, user_id: str | None, product_id: str, op: str) -> dict:
        kind = "remove_from_cart" if op == "remove" else "add_to_cart"
        if op == "add" and self.on_cart is not None and product_id in self.sessions.cart(session_id):
            # The cart holds one of each product: "make that two" must not be told it was added again.
            return {"type": kind, "product_id": product_id, "ok": True, "already": True}
        done = self.on_cart(session_id, user_id, product_id, op) if self.on_cart is not None else False
        return {"type": kind, "product_id": product_id, "ok": done}

    def policy_snippets(self, question: str) -> list[dict[str, str]]:
        """The sentences of the shop's policies that answer the question, from the one policy that holds them (named
        as the source): extractive, by meaning (catalog.policies.PolicyIndex.answer). Nothing when none is close."""
        found = self.policies.answer(question) if self.policies is not None else None
        return [{"id": found["id"], "title": found["title"], "text": found["text"]}] if found else []


_SENTENCE_END = re.compile(r"[.!?]\s+|\n+")


def _sentence_end(text: str) -> int | None:
    """Index just past the last complete sentence in text and the space after it (a full stop followed by space,
    or a line break): word_chunks carries whitespace at the end of a chunk, never at the start.
    "$52.49" and "4.5/5" have no space after the dot, so prices and ratings are never cut in two."""
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    return ends[-1] if ends else None
