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

OUT_OF_SCOPE_REPLY = "Sorry, I can only help with this shop's products, your cart and questions about orders."
GREETING_REPLY = "Hello! Tell me what you are looking for, or ask about delivery, returns and your order."
THANKS_REPLY = "You're welcome! Is there anything else I can find for you?"
BYE_REPLY = "Goodbye, and thanks for visiting!"
NOTHING_SHOWN = "I haven't shown any products yet. What are you looking for?"
WHICH_ONE = "Which product do you mean? Say \"the first one\", or use the buttons on a card."
NO_POLICY = "I don't have that information."
_THANKS = re.compile(r"\b(?:thanks?|thank you|thx|ty|cheers|appreciated?)\b", re.I)
_BYE = re.compile(r"\b(?:bye|goodbye|see you|good night|ciao|later)\b", re.I)
_WORD = re.compile(r"[a-z0-9]+")
_LEADING_PREPOSITIONS = {"under", "over", "below", "above", "between", "from", "for", "in", "with", "without", "by",
                         "at", "around", "not", "no", "less", "more", "up", "within", "near"}
MAX_LISTED = 4  # products named in one reply: the cards show the rest of what there is to see


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def notice_sentences(facts: ReplyFacts) -> list[str]:
    """The shop's notices as sentences, as every reply ends with them."""
    return [_sentence(n) for n in facts.notices if n and n.strip()]


class TemplateBackend:
    """Deterministic replies built from ReplyFacts alone, one way per kind of message: always grounded, so it is
    the verifier's fallback. The wording for small talk is picked by the message's words; the facts decide the rest."""

    name = "template"
    supports_prefix = False

    def reply(self, facts: ReplyFacts, user_message: str = "") -> str:
        write = {"out_of_scope": lambda: [OUT_OF_SCOPE_REPLY], "smalltalk": lambda: [self._smalltalk(user_message)],
                 "service": lambda: self._service(facts), "ask_product": lambda: self._ask(facts),
                 "compare": lambda: self._compare(facts), "cart": lambda: self._cart(facts)}
        parts = write.get(facts.kind, lambda: self._products(facts))()
        parts += notice_sentences(facts)
        return " ".join(parts)

    def stream(self, messages: Sequence[dict] | None, facts: ReplyFacts, prefix: str = "") -> Iterator[str]:
        yield from word_chunks(self.reply(facts, last_user_message(messages)))

    def lead(self, facts: ReplyFacts) -> str:
        """The reply's first sentence when it can be written from the facts alone (which products, or that nothing
        matches): shown at once, and a model that supports a prefix continues after it."""
        if facts.kind == "service" and facts.policy_snippets:
            return self._service(facts)[0]
        if facts.kind in ("search", "refine") and facts.products:
            return self._products(facts)[0]
        if facts.products and facts.kind == "ask_product":
            return self._ask(facts)[0]  # the product's own facts first: the reply is about that product
        return ""

    @staticmethod
    def _describe(p, name: str) -> str:
        # The cards show rating and stock; the list says the price and only what would surprise (out of stock), so
        # a four-product answer stays under ~60 words.
        details = ([p.price_text] if p.price is not None else []) + ([] if p.in_stock else ["out of stock"])
        return f"{name} ({', '.join(details)})" if details else name

    def _products(self, facts: ReplyFacts) -> list[str]:
        items = [self._describe(p, name) for p, name in zip(facts.products, facts.display_names())][:MAX_LISTED]
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

    def _ask(self, facts: ReplyFacts) -> list[str]:
        """A question about one shown product: its own facts, not the list again."""
        if not facts.products:
            return [WHICH_ONE]
        p, name = facts.products[0], facts.display_names()[0]
        details = [p.price_text, p.stock_text]
        if p.rating is not None:
            details.append(f"rated {p.rating:.1f}/5 from {p.review_count} reviews")
        parts = [f"{name}{f' by {p.brand}' if p.brand else ''}: {', '.join(details)}."]
        if p.attributes:
            parts.append(_sentence("; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in list(p.attributes.items())[:5])))
        if p.description:
            parts.append(_sentence(split_sentences(p.description)[0][:240]))
        return parts

    def _compare(self, facts: ReplyFacts) -> list[str]:
        """Side by side: each product's price, rating and stock, then which is cheaper and which rated higher."""
        if len(facts.products) < 2:
            return self._ask(facts) if facts.products else [WHICH_ONE]
        names = facts.display_names()
        parts = [_sentence(f"{name}: {p.price_text}, {p.stock_text}"
                           + (f", {p.rating:.1f}/5" if p.rating is not None else ""))
                 for p, name in zip(facts.products[:MAX_LISTED], names)]
        priced = [(p.price, n) for p, n in zip(facts.products, names) if p.price is not None]
        rated = [(p.rating, n) for p, n in zip(facts.products, names) if p.rating is not None]
        if len(priced) >= 2:
            parts.append(f"The cheapest is {min(priced)[1]}.")
        if len(rated) >= 2:
            parts.append(f"The best rated is {max(rated)[1]}.")
        return parts

    @staticmethod
    def _cart(facts: ReplyFacts) -> list[str]:
        """What the cart action did (the shop carried it out before this reply was written)."""
        if not facts.actions:
            return [WHICH_ONE if facts.products else NOTHING_SHOWN]
        parts = []
        names = {p.id: n for p, n in zip(facts.products, facts.display_names())}
        for action in facts.actions:
            name = names.get(action.get("product_id", ""), "that product")
            if not action.get("ok"):
                parts.append(f"I couldn't change the cart for {name}.")
            elif action.get("type") == "remove_from_cart":
                parts.append(f"Removed {name} from your cart.")
            elif action.get("already"):
                parts.append(f"{name} is already in your cart; I can't change quantities here.")
            else:
                price = next((p.price_text for p in facts.products if p.id == action.get("product_id")), "")
                parts.append(f"Added {name}{f' ({price})' if price else ''} to your cart.")
        return parts

    @staticmethod
    def _smalltalk(user_message: str) -> str:
        if _THANKS.search(user_message):
            return THANKS_REPLY
        if _BYE.search(user_message):
            return BYE_REPLY
        return GREETING_REPLY

    @staticmethod
    def _service(facts: ReplyFacts) -> list[str]:
        """The one to three sentences of the shop's policy that answer the question (chosen by the pipeline), with
        the policy named; nothing the shop did not write. Without them, honestly: no information, and whom to ask."""
        if not facts.policy_snippets:
            contact = f" You can reach us at {facts.contact}." if facts.contact else ""
            return [NO_POLICY + contact]
        snippet = facts.policy_snippets[0]
        return [f"From our {snippet.get('title', 'policy')} policy: {' '.join(str(snippet.get('text', '')).split())}"]
