"""The template backend: deterministic replies written from the facts alone, always grounded, so it is both the
backend for tests and the fallback the verifier swaps in when a model's sentence fails.

    TemplateBackend().reply(facts, "any warm jackets?")      # "Here are 4 options under $100: ..."
"""
from __future__ import annotations

import re
from typing import Iterator, Sequence

from assistant.dialogue.sanitize import split_sentences
from assistant.reply.facts import ReplyFacts
from assistant.reply.prompt import last_user_message


def word_chunks(text: str) -> Iterator[str]:
    """Words with their trailing space: how replies stream."""
    yield from re.findall(r"\S+\s*", text)


# -----------------------------------------------------------------------------
# template backend

OFF_TOPIC_REPLY = "I can help with products from our shop and with orders, returns, shipping and warranty questions."
SMALLTALK_REPLY = ("Hello! I can help you find products, compare options, and answer questions about orders, returns, "
                   "shipping and warranty. What are you looking for today?")
_WORD = re.compile(r"[a-z0-9]+")
_LEADING_PREPOSITIONS = {"under", "over", "below", "above", "between", "from", "for", "in", "with", "without", "by",
                         "at", "around", "not", "no", "less", "more", "up", "within", "near"}


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


class TemplateBackend:
    """Deterministic replies built from ReplyFacts alone: always grounded, so it is the verifier's fallback."""

    name = "template"

    def reply(self, facts: ReplyFacts, user_message: str = "") -> str:
        if facts.kind == "off_topic":
            parts = [OFF_TOPIC_REPLY]
        elif facts.kind == "smalltalk":
            parts = [SMALLTALK_REPLY]
        elif facts.kind == "after_sales":
            parts = self._after_sales(facts, user_message)
        else:
            parts = self._products(facts)
        parts += [n.strip() if n.strip().endswith((".", "!", "?")) else n.strip() + "." for n in facts.notices if n]
        return " ".join(parts)

    supports_prefix = False

    def stream(self, messages: Sequence[dict] | None, facts: ReplyFacts, prefix: str = "") -> Iterator[str]:
        yield from word_chunks(self.reply(facts, last_user_message(messages)))

    def lead(self, facts: ReplyFacts) -> str:
        """The reply's first sentence when it can be written from the facts alone (which products, or that nothing
        matches): shown at once, and a model that supports a prefix continues after it."""
        if facts.kind == "after_sales" and facts.policy_snippets:
            return f"Our {facts.policy_snippets[0].get('title', 'policy')} policy:"
        if facts.kind not in ("product_search", None) or not facts.products:
            return ""
        return self._products(facts)[0]

    @staticmethod
    def _describe(p, name: str) -> str:
        details = [p.price_text, p.stock_text]
        if p.rating is not None:
            details.append(f"{p.rating:.1f}★")
        return f"{name} ({', '.join(details)})"

    def _products(self, facts: ReplyFacts) -> list[str]:
        items = [self._describe(p, name) for p, name in zip(facts.products, facts.display_names())]
        constraints = facts.constraints_text.strip()
        if facts.no_match:
            head = f"Nothing matches all of: {constraints}." if constraints else "Nothing matches your request exactly."
            if not items:
                return [head, "I have no close alternatives to show; try loosening a constraint."]
            return [head, f"The closest alternatives (not matching): {_join(items)}."]
        if not items:
            tail = f" matching {constraints}" if constraints else ""
            return [f"I couldn't find any products{tail}. Could you loosen a constraint or describe it differently?"]
        noun = "option" if len(items) == 1 else "options"
        # "options under $100" reads well; "options waterproof jacket" does not, so those get a "for".
        first = constraints.split(" ", 1)[0].lower() if constraints else ""
        where = f" {constraints}" if first in _LEADING_PREPOSITIONS else f" for {constraints}" if constraints else ""
        parts = [f"Here {'is' if len(items) == 1 else 'are'} {len(items)} {noun}{where}: {_join(items)}."]
        top = facts.products[0]
        if top.reason:
            parts.append(f"{facts.display_names()[0]}: {top.reason.strip().rstrip('.')}.")
        return parts

    @staticmethod
    def _after_sales(facts: ReplyFacts, user_message: str) -> list[str]:
        if not facts.policy_snippets:
            return ["I don't have a policy that answers that; our support team can help with your order."]
        question = set(_WORD.findall(user_message.lower()))
        parts = []
        for snippet in facts.policy_snippets[:2]:
            sentences = split_sentences(" ".join(str(snippet.get("text", "")).split()))
            if question and len(sentences) > 3:
                # Keep the policy's own words, but only the sentences closest to what was asked, in policy order.
                ranked = sorted(range(len(sentences)),
                                key=lambda i: (-len(question & set(_WORD.findall(sentences[i].lower()))), i))
                sentences = [sentences[i] for i in sorted(ranked[:3])]
            else:
                sentences = sentences[:3]
            parts.append(f"Our {snippet.get('title', 'policy')} policy: {' '.join(sentences)}")
        return parts
