"""The typed events one chat turn streams, in order: one ProductsEvent (what is shown, before any reply text), then
TokenEvents (reply text as it is verified), possibly a ReplaceEvent (a later sentence failed the verifier: the text
so far is replaced by the grounded template reply), then one DoneEvent (the final reply). `collect_turn` folds a
stream into one Turn for callers that want the whole answer at once.

    for event in assistant.respond("s1", "waterproof jacket under $100"):
        match event:
            case ProductsEvent(): show(event.products)
            case TokenEvent(text=t): append(t)
            case ReplaceEvent(text=t): replace_all(t)
            case DoneEvent(reply=r): finish(r)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Iterable, Union

from catalog.schema import Product


@dataclass
class RankedProduct:
    product: Product
    reason: str  # why it is shown, in words a shopper understands
    score: float
    matches: bool = True  # False for "closest alternatives" shown when nothing satisfies the constraints


@dataclass(frozen=True)
class ProductsEvent:
    type: ClassVar[str] = "products"  # the event's name on the wire (server-sent events)
    products: list[RankedProduct]
    kind: str  # the message's act: search, refine, ask_product, compare, cart, service, smalltalk, out_of_scope
    no_match: bool  # the products are the closest alternatives, not matches
    constraints: str  # the carried constraints in words ("jackets, under $100")
    notices: list[str] = field(default_factory=list)  # things the shopper should know (message cut, price ignored)
    policy_snippets: list[dict[str, str]] = field(default_factory=list)  # {"id", "title", "text"} for service answers
    actions: list[dict] = field(default_factory=list)  # what the shop did: {"type": "add_to_cart", "product_id", "ok"}

    @property
    def sources(self) -> list[str]:
        """The policy documents a service answer quotes."""
        return [s["id"] for s in self.policy_snippets]


@dataclass(frozen=True)
class TokenEvent:
    type: ClassVar[str] = "token"
    text: str


@dataclass(frozen=True)
class ReplaceEvent:
    type: ClassVar[str] = "replace"
    text: str  # the whole reply that replaces what was streamed so far


@dataclass(frozen=True)
class DoneEvent:
    type: ClassVar[str] = "done"
    reply: str  # exactly what the shopper ends up seeing
    grounded: bool  # False when the model's reply failed verification and the template answered
    problems: list[str] = field(default_factory=list)  # why it failed, for the log


TurnEvent = Union[ProductsEvent, TokenEvent, ReplaceEvent, DoneEvent]


@dataclass
class Turn:
    """A whole turn: the products event's fields and the done event's."""

    products: list[RankedProduct] = field(default_factory=list)
    kind: str = ""
    no_match: bool = False
    constraints: str = ""
    notices: list[str] = field(default_factory=list)
    policy_snippets: list[dict[str, str]] = field(default_factory=list)
    actions: list[dict] = field(default_factory=list)
    reply: str = ""
    grounded: bool = True
    problems: list[str] = field(default_factory=list)

    @property
    def sources(self) -> list[str]:
        return [s["id"] for s in self.policy_snippets]


def collect_turn(events: Iterable[TurnEvent]) -> Turn:
    turn = Turn()
    for event in events:
        if isinstance(event, ProductsEvent):
            turn.products, turn.kind, turn.no_match = event.products, event.kind, event.no_match
            turn.constraints, turn.notices, turn.policy_snippets = event.constraints, event.notices, event.policy_snippets
            turn.actions = event.actions
        elif isinstance(event, DoneEvent):
            turn.reply, turn.grounded, turn.problems = event.reply, event.grounded, event.problems
    return turn
