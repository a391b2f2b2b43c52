"""Conversation context: the shopper's constraints carried across turns, references to shown products, and the text
to embed for each turn. Rule-based and deterministic; one message takes well under 2 ms.

    vocab = Vocabulary.from_products(products)
    state = SessionState()
    turn = update_context(state, "waterproof hiking jacket under $100", vocab)
    hits = index.search(turn.intent_text, filters=turn.filters())
    state.record_shown([h.product for h in hits[:4]])

This module holds the session (`SessionState`, `TurnContext`), reads and resolves references ("the second one",
"the Northpeak one", "the cheapest one", "that one"), tracks the topic, builds the intent text, and applies each
message to the carried constraints. What a message says about prices, brands, colours, sizes and so on is read by
assistant.dialogue.constraints, which also defines `Vocabulary` and `Constraints` (re-exported here); this module imports from
it, never the other way round.

Documented choices:
- "around $100" is a hard band of +-25% (AROUND_BAND: $75-$125) plus a soft "price_target" for ranking.
- "cheaper" sets max_price one cent below the cheapest product shown last turn (or referenced: "cheaper than the
  second one"), so every new result is cheaper than everything already seen; with nothing shown it lowers the
  current max by 20%, or only adds the soft "prefer_cheaper". "more expensive"/"premium" mirror it upwards.
- A message flagged as prompt injection changes no constraint and no topic; after-sales, off-topic and smalltalk
  messages leave the constraints alone too.
- A message naming a category other than the current topic's starts a new topic: constraints reset, except those
  stated in that same message, and earlier messages leave the intent text.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable

from assistant.dialogue.acts import NEEDS_SHOWN, keywords
from assistant.dialogue.constraints import (
    MAX_PRICE,
    MIN_PRICE,
    NUMBER_WORDS,
    ParsedMessage,
    blank,
    parse_clears_and_stock,
    parse_constraints,
    take,
)
from assistant.dialogue.constraints import Constraints as Constraints  # re-exported for callers
from assistant.dialogue.injection import detect_injection
from assistant.dialogue.sanitize import sanitize_untrusted, truncate
from assistant.dialogue.vocabulary import Vocabulary as Vocabulary
from catalog.schema import Product, model_key

if TYPE_CHECKING:
    from catalog.index import SearchFilters

AROUND_BAND = 0.25  # "around 100" -> 75..125 as hard limits
CHEAPER_STEP = 0.01  # "cheaper" -> strictly below the cheapest shown price
NO_SHOWN_FACTOR = 0.8  # "cheaper" with nothing shown: 80% of the current max (and 1/0.8 upwards)
MAX_TOPIC_MESSAGES = 6  # earlier messages of the topic that go into the intent text
ABOUT_SHOWN = ("ask_product", "compare", "cart")  # acts answered about products on screen, never with a new list

ORDINALS = {"first": 0, "1st": 0, "second": 1, "2nd": 1, "third": 2, "3rd": 2, "fourth": 3, "4th": 3, "fifth": 4,
            "5th": 4, "sixth": 5, "6th": 5, "last": -1}
REFERENCE_NOUNS = {"one", "ones", "option", "item", "result", "product", "pick", "choice"}  # "the second one"
# Words after "the first"/"the last" that make it time, not a product: "the last time", "the first thing".
NOT_REFERENCE_NEXT = {"time", "times", "year", "years", "month", "week", "day", "days", "order", "purchase", "few",
                      "couple", "thing", "things", "step", "minute", "moment", "place", "date", "name", "page"}

# "the cheapest one", "the best rated of them", "the cheaper one": picked by price or rating among the products shown.
SUPERLATIVE_RE = re.compile(r"\bthe\s+(?P<s>cheapest|least expensive|most expensive|priciest|best[- ]rated|"
                            r"highest[- ]rated|top[- ]rated|cheaper|less expensive|more expensive|pricier|"
                            r"better[- ]rated|higher[- ]rated)\s+(?:one|of (?:them|those|these|the two))\b")
# "the blue one", "the leather ones": a shown product picked by words of its own colour or title.
DESCRIBED_RE = re.compile(r"\bthe\s+(?P<w>[a-z][a-z'-]{1,20}(?:\s[a-z][a-z'-]{1,20})?)\s+ones?\b")
# "the one with heavy-duty", "the one in walnut", "that one that has a hood": a shown product picked by a detail.
DESCRIBED_AFTER_RE = re.compile(r"\b(?:the|that)\s+ones?\s+(?:with|in|that\s+has|which\s+has)\s+(?:the\s+|an?\s+)?"
                                r"(?P<w>[a-z0-9][a-z0-9'-]{1,20}(?:\s[a-z0-9][a-z0-9'-]{1,20})?)")
# A cart request that takes out rather than puts in; everything else about the cart adds.
CART_REMOVE_RE = re.compile(r"\b(?:remove|delete|take\s(?:it|that|this|them)\sout|take\sout|drop)\b")
# "anything with a hood", "something in wool", "ones from Acme": no kind of product named, so it is the current kind.
UNNAMED_RE = re.compile(r"\b(?:anything|something|any|ones?)\s+(?:with|in|from|by|that|which|made)\b")
# How the answer to "which one do you mean?" begins: a correction ("I mean the grey one"), an agreement, or a bare
# description ("the maroon blouse and the light grey, both in the middle").
CORRECTION_RE = re.compile(r"^(?:(?:no|sorry|oh|oops)\W+)?(?:i|i've)\s+(?:mean|meant)\b")
AGREE_RE = re.compile(r"^(?:yes|yeah|yep|exactly|right|correct)\b")
DESCRIPTION_RE = re.compile(r"^(?:the|that|those|this|these|both|either)\b")
# "instead", "something else", "what about ...": another product for the same goal (budget, recipient stay).
SHIFT_RE = re.compile(r"\b(?:instead|something else|anything else|what about|how about|rather)\b")
# "any other suggestions?", "show me more", "what else do you have?": more of the same search, none shown again.
MORE_RE = re.compile(r"\b(?:any|some)\s+(?:other|more)\s+(?:suggestions?|options?|ideas?|recommendations?|results?|"
                     r"choices?|products?|ones|items?)\b|\b(?:other|more|different)\s+(?:suggestions?|options?|ideas?|"
                     r"recommendations?|results?|choices?)\b|\bshow\s+(?:me\s+)?(?:some\s+)?(?:more|others|other ones)\b|"
                     r"\bwhat else\b|\banything else\b|\bany others\b|\bsee more\b|\bnext (?:ones|page)\b")
MAX_SEEN = 48  # products of the current topic remembered so "show me more" does not show them again
# Ordinal references: "the second one", "#2", "number 2", "the first two", "the last one".
ORDINAL_RE = re.compile(r"\b(?P<the>the\s+)?(?P<ord>first|second|third|fourth|fifth|sixth|1st|2nd|3rd|4th|5th|6th|"
                        r"last)\b(?:\s+(?P<next>[a-z']+))?")
NUMBERED_RE = re.compile(r"(?:#\s*|\b(?:number|no\.|option|item|result|product)\s*)(?P<n>[1-9])\b(?!\s*(?:pack|%))")
FIRST_N_RE = re.compile(r"\b(?:the\s+)?(?:first|top)\s+(?P<n>two|three|four|five|[2-5])\b(?!\s*(?:stars?|packs?|"
                        r"pairs?|%))")
# "that one", "is it ...", "more like that", "it in blue": the product talked about last.
PRONOUN_RE = re.compile(r"\b(?:that|this)\s+one\b|\b(?:like|about|of|buy|get|want|take|see|have|has|is|does|do|"
                        r"compare|order|prefer)\s+(?P<p>it|that|this|them|those|these)\b|\b(?:it|that|this)\s+(?:in|"
                        r"comes?|come)\b")
# "more like that", "something similar", "alternatives": reference mode "similar".
SIMILAR_RE = re.compile(r"\b(?:more|others?|something|anything|ones?|items?|stuff|products?|options?|things?)\s+"
                        r"(?:just\s+|exactly\s+|a bit\s+)?like\b|\bsimilar\b|\balternatives?\b|\bcomparable\b|"
                        r"\b(?:in|of) the same (?:style|kind|type)\b")
# "does it come in red", "other colours": reference mode "variant" (same model, other option).
VARIANT_RE = re.compile(r"\bcomes?\s+in\b|\bavailable\s+in\b|\bother\s+(?:colou?rs?|sizes?)\b|"
                        r"\bdifferent\s+(?:colou?rs?|sizes?)\b|\bsame (?:one|model|thing) (?:in|but)\b")


@dataclass
class SessionState:
    """One shopper's conversation memory."""

    # Only what the next turn reads is kept, each list bounded, so a session's memory stays the same after
    # 1,000 turns as after 10 (a 150-turn session used to hold 12 MB).
    constraints: Constraints = field(default_factory=Constraints)
    topic_texts: list[str] = field(default_factory=list)  # search words of the topic's last messages (intent text)
    shown: list[Product] = field(default_factory=list)  # products shown last turn, in display order
    topic: str | None = None  # the current topic's category
    last_referenced: list[Product] = field(default_factory=list)
    last_kind: str | None = None  # the last turn's act: "I mean the grey one" re-aims it
    awaiting_pick: str = ""  # the last message when it was about shown products but named none: the reply asked which
    seen: list[str] = field(default_factory=list)  # ids shown since the topic began (MAX_SEEN most recent)
    seen_models: list[str] = field(default_factory=list)  # their model keys: another colour of one is not "more"

    def record_shown(self, products: Iterable[Product]) -> None:
        """Call after each reply with the products it displayed."""
        self.shown = list(products)
        ids, models = [p.id for p in self.shown], [model_key(p) for p in self.shown]
        self.seen = [*(i for i in self.seen if i not in ids), *ids][-MAX_SEEN:]
        self.seen_models = [*(m for m in self.seen_models if m not in models), *dict.fromkeys(models)][-MAX_SEEN:]

    def recent_referenced(self) -> list[Product]:
        """The products referred to last, while they are still on screen."""
        on_screen = {p.id for p in self.shown}
        return [p for p in self.last_referenced if p.id in on_screen]


@dataclass
class TurnContext:
    constraints: Constraints  # effective for this turn (a copy; the state holds the carried one)
    intent_text: str  # what to embed
    referenced: list[Product] = field(default_factory=list)
    reference_mode: str | None = None  # "similar", "variant", "detail" or None
    new_topic: bool = False
    kind: str = "search"  # the message's act (assistant/dialogue/acts.py), checked against what it says
    notices: list[str] = field(default_factory=list)
    injection: bool = False
    cart_op: str = "add"  # for a cart request: "add" or "remove"
    question: str = ""  # what the reply answers: the message, or the question a pick answers plus the pick
    exclude_ids: list[str] = field(default_factory=list)  # "show me more": the products this topic already showed
    exclude_models: set[str] = field(default_factory=set)  # ... and their models (model_key), in any colour or size

    @property
    def more(self) -> bool:
        return bool(self.exclude_ids or self.exclude_models)

    def filters(self) -> SearchFilters:
        """The hard constraints, leaving out the referenced products when asking for similar ones and the products
        already shown when asking for more."""
        similar = [p.id for p in self.referenced] if self.reference_mode == "similar" else []
        return self.constraints.to_filters(similar + self.exclude_ids)


# ---- reading references in one message -----------------------------------------------------------------------------

@dataclass
class _Parsed(ParsedMessage):
    """A message's constraints (see assistant.dialogue.constraints) plus its references to shown products."""

    ordinals: list[tuple[int, str]] = field(default_factory=list)  # (index into shown, -1 = last; the words)
    pronoun: str | None = None  # "one" or "many"
    superlative: str | None = None  # "cheapest", "most expensive", "best rated", ...
    described: str | None = None  # "the blue one": words that pick a shown product
    detail: bool = False  # described by a detail after "one" ("the one with a hood"): a wish when none shown has it
    similar: bool = False
    variant: bool = False
    shift: bool = False  # "instead", "something else": the same goal, another kind of product
    more: bool = False  # "any other suggestions?": the same search, without what it showed

    def product_signal(self) -> bool:
        return super().product_signal() or bool(self.ordinals or self.superlative)


def _parse(text: str, vocab: Vocabulary, state: SessionState) -> _Parsed:
    # The steps run in this order, each blanking out the words it used (see assistant.dialogue.constraints).
    p = _Parsed()
    work = text.lower().replace("\u2019", "'")
    p.similar, p.variant = bool(SIMILAR_RE.search(work)), bool(VARIANT_RE.search(work))
    p.shift = bool(SHIFT_RE.search(work))
    p.more = bool(MORE_RE.search(work))
    work = parse_clears_and_stock(p, work)
    work = _parse_references(p, work)
    parse_constraints(p, work, text, vocab, state.topic)
    return p


def _parse_references(p: _Parsed, work: str) -> str:
    matches, work = take(FIRST_N_RE, work)
    for m in matches:
        n = NUMBER_WORDS.get(m.group("n")) or int(m.group("n"))
        p.ordinals += [(i, m.group(0).strip()) for i in range(n)]
    matches, work = take(NUMBERED_RE, work)
    p.ordinals += [(int(m.group("n")) - 1, m.group(0).strip()) for m in matches]
    for m in ORDINAL_RE.finditer(work):
        nxt = m.group("next") or ""
        if nxt in REFERENCE_NOUNS or (m.group("the") and nxt not in NOT_REFERENCE_NEXT):
            p.ordinals.append((ORDINALS[m.group("ord")], m.group(0).strip()))
            work = blank(work, m.start(), m.end() if nxt in REFERENCE_NOUNS else m.end("ord"))
    matches, work = take(SUPERLATIVE_RE, work)
    if matches:
        p.superlative = matches[0].group("s").replace("-", " ")
    m = DESCRIBED_RE.search(work)
    after = None if m else DESCRIBED_AFTER_RE.search(work)
    if (m or after) and (m or after).group("w") not in ("other", "same", "next", "previous", "right", "left"):
        p.described, p.detail = (m or after).group("w"), after is not None
    matches, work = take(PRONOUN_RE, work)
    if matches:
        p.pronoun = "many" if matches[-1].group("p") in ("them", "those", "these") else "one"
    return work


# ---- applying a message to the session -----------------------------------------------------------------------------

def _resolve(p: _Parsed, state: SessionState, notices: list[str]) -> list[Product]:
    shown = state.shown
    refs: list[Product] = []
    for index, words in p.ordinals:
        if shown and -len(shown) <= index < len(shown):
            if shown[index] not in refs:
                refs.append(shown[index])
        elif shown:
            notices.append(f"I showed {len(shown)} products, so I can't tell which one \"{words}\" means.")
        else:
            notices.append("I haven't shown any products yet, so I can't tell which one you mean.")
    if p.ref_brand:
        match = next((x for x in shown if x.brand.lower() == p.ref_brand.lower()), None)
        if match and match not in refs:
            refs.append(match)
    priced = [x for x in shown if x.price is not None]
    rated = [x for x in shown if x.rating is not None]
    if p.superlative and p.superlative.split()[0] in ("cheaper", "less", "more", "pricier", "better", "higher"):
        # "the cheaper one" compares the products just talked about (two compared), else all shown.
        recent = state.recent_referenced()
        basis = recent if len(recent) > 1 else shown
        priced = [x for x in basis if x.price is not None]
        rated = [x for x in basis if x.rating is not None]
    if p.superlative in ("cheapest", "least expensive", "cheaper", "less expensive") and priced:
        refs.append(min(priced, key=lambda x: x.price))
    elif p.superlative in ("most expensive", "priciest", "more expensive", "pricier") and priced:
        refs.append(max(priced, key=lambda x: x.price))
    elif p.superlative and rated:
        refs.append(max(rated, key=lambda x: x.rating))
    if p.described and not refs:
        words = p.described.split()
        described = [x for x in shown if all(w in _own_words(x) for w in words)]
        refs += described[:1]
    # "that one", "is it ...", and "similar ones" / "other colours?" with nothing named: the last one talked about.
    if not refs and not p.ordinals and (p.pronoun or p.similar or p.variant) and shown:
        recent = state.recent_referenced()
        refs = (recent if len(recent) > 1 else list(shown)) if p.pronoun == "many" else (recent[:1] or shown[:1])
    return refs


def _own_words(p: Product) -> set[str]:
    """The words a shopper may pick a shown product by: its title, colour, material, brand."""
    text = " ".join([p.title, p.brand, *(str(v) for k, v in p.attributes.items() if k in ("colour", "material", "size"))])
    return set(re.findall(r"[a-z0-9'-]+", text.lower()))


def _apply_prices(c: Constraints, p: _Parsed, basis: list[Product]) -> None:
    for _, op, a, b in p.prices:
        if op in ("range", "around") or "price_target" in c.soft:
            c.soft.pop("price_target", None)
            c.min_price = c.max_price = None
        if op == "range":
            c.min_price, c.max_price = a, b
        elif op == "around":
            c.soft["price_target"] = a
            c.min_price, c.max_price = round(a * (1 - AROUND_BAND), 2), round(a * (1 + AROUND_BAND), 2)
        elif op == "max":
            c.max_price = a
            c.min_price = c.min_price if c.min_price is None or c.min_price <= a else None
        else:
            c.min_price = a
            c.max_price = c.max_price if c.max_price is None or c.max_price >= a else None
    if p.prices or not p.relative:
        return
    prices = [x.price for x in basis if x.price is not None]
    if p.relative == "cheaper":
        c.soft.pop("prefer_pricier", None)
        c.soft["prefer_cheaper"] = 1.0
        limit = min(prices) - CHEAPER_STEP if prices else (c.max_price * NO_SHOWN_FACTOR if c.max_price else None)
        if limit is not None and limit > 0:
            if c.soft.pop("price_target", None) is not None:
                c.min_price = None
            c.max_price = round(min(limit, c.max_price) if c.max_price is not None else limit, 2)
            c.min_price = c.min_price if c.min_price is None or c.min_price < c.max_price else None
    else:
        c.soft.pop("prefer_cheaper", None)
        c.soft["prefer_pricier"] = 1.0
        limit = max(prices) + CHEAPER_STEP if prices else (c.min_price / NO_SHOWN_FACTOR if c.min_price else None)
        if limit is not None:
            if c.soft.pop("price_target", None) is not None:
                c.max_price = None
            c.min_price = round(max(limit, c.min_price) if c.min_price is not None else limit, 2)
            c.max_price = c.max_price if c.max_price is None or c.max_price > c.min_price else None


def _apply(c: Constraints, p: _Parsed, state: SessionState, refs: list[Product], new_topic: bool) -> None:
    if "price" in p.clear:
        c.min_price = c.max_price = None
        for key in ("price_target", "prefer_cheaper", "prefer_pricier"):
            c.soft.pop(key, None)
    if "brand" in p.clear:
        c.brands, c.exclude_brands = [], []
    if "colour" in p.clear:
        c.colour, c.colours = None, []
        c.soft.pop("avoid_colour", None)
    if "size" in p.clear:
        c.size = None
    if "audience" in p.clear:
        c.audience = None
    if "rating" in p.clear:
        c.min_rating = None
    if p.category:
        c.category = p.category
    for owned in p.owned:  # "he already has a coffee maker": anything but that kind of product
        if owned not in c.exclude_categories:
            c.exclude_categories.append(owned)
        if c.category and c.category.lower() == owned.lower():
            c.category = None
    # A relative move is measured against what the shopper saw; after a topic change that means nothing.
    _apply_prices(c, p, [] if new_topic else (refs or state.shown))
    excluded = list(p.exclude)
    if p.other_brands == "one":
        source = refs or state.recent_referenced() or state.shown[:1]
        excluded += [x.brand for x in source[:1] if x.brand]
    elif p.other_brands == "all":
        excluded += [x.brand for x in (refs if len(refs) > 1 else state.shown) if x.brand]
    if p.brands:
        c.brands = list(dict.fromkeys(p.brands))
        c.exclude_brands = [b for b in c.exclude_brands if b not in c.brands]
    for brand in excluded:
        if brand not in c.exclude_brands:
            c.exclude_brands.append(brand)
        c.brands = [b for b in c.brands if b.lower() != brand.lower()]
    if p.colour:
        c.colour, c.colours = p.colour, list(p.colours)
    avoid = p.soft.get("avoid_colour")
    if isinstance(avoid, str) and c.colour and c.colour.lower() == avoid.lower():
        c.colour, c.colours = None, []
    elif isinstance(avoid, str):  # "blue, but not navy": the family without that shade
        c.colours = [x for x in c.colours if x.lower() != avoid.lower()]
    if p.size:
        c.size = p.size
    if p.audience:
        c.audience = p.audience
    if p.min_rating is not None:
        c.min_rating = p.min_rating
    if p.in_stock is not None:
        c.in_stock_only = p.in_stock
    c.soft.update(p.soft)


def update_context(state: SessionState, message: str, vocab: Vocabulary, act: str | None = None) -> TurnContext:
    """Read one user message: update the session's carried constraints and topic, and say what to do. `act` is the
    dialogue-act classifier's reading (None: a search); what the message itself says can overrule it: a message
    with prices or the catalog's names in it is about products, a request about shown products with none shown
    is a search, and the answer to the last turn's question about shown products continues that question."""
    asked = state.awaiting_pick
    ctx = _update(state, message, vocab, act)
    state.last_kind = ctx.kind
    # Asked once: an answer that still names no product ends the wait rather than asking the same again.
    waiting = ctx.kind in ABOUT_SHOWN and not ctx.referenced and bool(state.shown) and not asked
    state.awaiting_pick = ctx.question if waiting else ""
    return ctx


def _update(state: SessionState, message: str, vocab: Vocabulary, act: str | None) -> TurnContext:
    state.constraints.currency = vocab.currency  # budgets are said in the shop's own currency
    text, notice = truncate(message)
    notices = [notice] if notice else []
    raw, text = text, sanitize_untrusted(text)
    # The raw text as well: sanitising rewrites role markers ("<|system|>" -> "(system)"), which hides them.
    injection = detect_injection(raw) or detect_injection(text)
    p = _parse(text, vocab, state)
    kind = _kind(act or "search", p, state, text, vocab)
    question = text
    if _answers_which(p, state, text):
        kind = state.last_kind
        question = f"{state.awaiting_pick} {text}".strip()  # "what is it made of? the grey one"
    if p.invalid_prices:
        notices.append(f"I ignored the price {', '.join(repr(x) for x in p.invalid_prices[:3])}: a budget has to be "
                       f"at least ${MIN_PRICE:.2f} and at most ${MAX_PRICE:,.0f}.")
    refs = _resolve(p, state, notices)
    mode = None
    if refs:
        mode = "similar" if p.similar or p.relative else "variant" if (p.variant or p.colour or p.size) else "detail"
        state.last_referenced = refs
    if injection:  # nothing in it is acted on; the search stays where it was
        intent = " ".join(state.topic_texts[-MAX_TOPIC_MESSAGES:]) or state.constraints.category or ""
        return TurnContext(state.constraints.copy(), intent, refs, mode, False, kind, notices, True)
    if kind == "ask_product" and p.detail and not refs:
        kind = "refine"  # "the one with heavy-duty" and none shown has it: the shopper is describing what they want
    if kind == "ask_product" and refs and p.variant and (p.colour or p.size):
        kind = "refine"  # "does it come in blue?": show that product's blue ones (or say there are none)
    if kind in ABOUT_SHOWN:  # about products on screen: which ones, nothing else changes
        refs = _about(kind, refs, state)
        state.last_referenced = refs or state.last_referenced
        op = "remove" if CART_REMOVE_RE.search(text.lower()) else "add"
        return TurnContext(state.constraints.copy(), text, refs, "detail", False, kind, notices, False, op, question)
    if kind not in ("search", "refine"):  # the question itself is what to look up (in the policies, for service)
        return TurnContext(state.constraints.copy(), text, refs, mode, False, kind, notices)
    # A new request the catalog has no category for ("cloth diapers" after a speaker, in a shop without categories):
    # the classifier's reading decides, and the carried words of the last topic must not steer it.
    asked_anew = act == "search" and mode is None and not p.category and bool(p.content) and bool(state.topic_texts) \
        and not UNNAMED_RE.search(text.lower())
    new_topic = p.reset or bool(mode is None and p.category and state.topic and p.category.lower() != state.topic.lower()) \
        or bool(p.shift and mode is None and (p.category or p.content)) or asked_anew
    if new_topic:
        kept = state.constraints
        state.constraints, state.topic_texts, state.seen, state.seen_models = Constraints(), [], [], []
        if (p.shift or asked_anew) and not p.reset:  # "something for his office instead": same budget and recipient
            _keep_goal(kept, state.constraints)
        state.topic = None if p.reset else state.topic
        state.constraints.currency = vocab.currency
    # Search or refine is the state's call, not the wording's: a message that keeps the products on screen and their
    # kind of product changes the current search; one with nothing shown, or a new kind of product, starts one.
    named_new = bool(mode is None and p.category and p.category.lower() != (state.topic or "").lower())
    kind = "refine" if state.shown and not new_topic and not named_new else "search"
    if p.category:
        state.topic = p.category
    _apply(state.constraints, p, state, refs, new_topic)
    if p.content:
        state.topic_texts = [*state.topic_texts, p.content][-MAX_TOPIC_MESSAGES:]
        # The last content word is usually the thing asked for ("waterproof bluetooth speaker"); when no product
        # text uses it, say so plainly instead of showing the nearest products as if they were that.
        unknown = vocab.unknown(p.content.split()[-1:])
        if unknown:
            notices.append(f"No product here mentions {unknown[0]!r}; these are the closest I found.")
    parts = [x.title for x in refs] if mode in ("similar", "variant") else []
    parts += state.topic_texts[-MAX_TOPIC_MESSAGES:]
    intent = " ".join(dict.fromkeys(parts)) or state.constraints.category or text
    ctx = TurnContext(state.constraints.copy(), intent, refs, mode, new_topic, kind, notices, injection)
    if p.more and kind == "refine" and mode is None:
        ctx.exclude_ids, ctx.exclude_models = list(state.seen), set(state.seen_models)
    return ctx


def _kind(act: str, p: _Parsed, state: SessionState, text: str, vocab: Vocabulary) -> str:
    # Names the catalog uses, or keywords that are all words of its product texts ("name tags" in a shop that sells
    # them): a search, whatever the wording suggested without knowing the shop.
    if act in ("smalltalk", "out_of_scope") and (p.product_signal() or vocab.names_all(keywords(text))):
        return "search"
    if act == "service" and (p.prices or p.relative or p.size or p.min_rating):  # "tent with free delivery
        return "search"  # under $100" is a search that mentions delivery, not a delivery question
    if act in NEEDS_SHOWN and not state.shown:
        return "cart" if act == "cart" else "search"  # nothing on screen: "add it" can only be declined
    return act


def _answers_which(p: _Parsed, state: SessionState, text: str) -> bool:
    """Whether the message re-aims the last turn's question, comparison or cart request at other shown products
    rather than asking something new: "I mean the grey dress" (a correction, even naming another kind of product),
    or "yes" or "the maroon one and the light grey" right after the reply asked which product was meant. A question
    mark, a budget or a new kind of product is a new request. Without that question, "the waterproof ones" after
    "add it to my cart" is a refinement, never a second cart request."""
    if state.last_kind not in ABOUT_SHOWN or not state.shown or "?" in text or p.prices or p.relative:
        return False
    low = text.lower().replace("\u2019", "'").strip()
    if CORRECTION_RE.match(low):
        return True
    if state.awaiting_pick and AGREE_RE.match(low):
        return True
    same_kind = not p.category or p.category.lower() == (state.topic or p.category).lower()
    return bool(state.awaiting_pick and DESCRIPTION_RE.match(low)) and same_kind


def _about(kind: str, refs: list[Product], state: SessionState) -> list[Product]:
    """The products a question, comparison or cart request is about: the ones named, else the one talked about
    last, else the only one shown (for a comparison: everything shown)."""
    if kind == "compare":
        return refs if len(refs) > 1 else (refs + [x for x in state.shown if x not in refs])[:4]
    if refs:
        return refs[:1] if kind == "cart" else refs
    recent = state.recent_referenced()
    return recent[:1] or (state.shown[:1] if len(state.shown) == 1 else [])


def _keep_goal(old: Constraints, new: Constraints) -> None:
    """What belongs to the shopper's goal rather than to one kind of product survives a change of product."""
    new.min_price, new.max_price = old.min_price, old.max_price
    if "price_target" in old.soft:
        new.soft["price_target"] = old.soft["price_target"]
    new.audience = old.audience
