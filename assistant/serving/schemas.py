"""The REST API's request and response models (they make /docs meaningful) and the JSON of a product card. Every
text field has a length cap (assistant/serving/limits.py); JSON is not HTML: clients escape what they show.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, StrictFloat, StrictInt, StrictStr, field_validator

from assistant.serving.cards import safe_url
from assistant.serving.limits import MAX_CONVERSATION_CHARS, MAX_CONVERSATION_TURNS, MAX_ID_CHARS, MAX_MESSAGE_CHARS
from assistant.serving.usertoken import MAX_TOKEN_CHARS
from catalog.schema import EVENT_TYPES, Product


def product_json(product: Product, reason: str = "") -> dict[str, Any]:
    """What a client needs to show a product card. JSON is not HTML: text is returned as-is, the client escapes.
    Links are only http(s) or site-relative: a catalog "javascript:" URL would run when a widget renders it."""
    return {"id": product.id, "title": product.title, "brand": product.brand, "price": product.price,
            "currency": product.currency, "rating": product.rating,
            "url": safe_url(product.attributes.get("url"), relative=True) or f"/api/v1/products/{product.id}",
            "image": safe_url(product.image_url, relative=True), "reason": reason}


class ChatRequest(BaseModel):
    session_id: str | None = Field(None, min_length=1, max_length=MAX_ID_CHARS,
                                   description="the conversation to continue (as returned by the first turn); "
                                               "omit to start one. It belongs to the (proven) user who began it")
    message: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)
    user_token: str | None = Field(None, max_length=MAX_TOKEN_CHARS,
                                   description="the shopper, signed by the shop's site (personalises the answer)")
    user_id: str | None = Field(None, max_length=MAX_ID_CHARS,
                                description="the shopper, only with the API key (calls from the shop's server)")

    @field_validator("message")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("message must not be empty")
        return v


class ProductOut(BaseModel):
    id: str
    title: str
    brand: str
    price: float | None
    currency: str
    rating: float | None
    url: str
    image: str | None
    reason: str = ""


class Action(BaseModel):
    type: str = Field(description="add_to_cart or remove_from_cart")
    product_id: str
    ok: bool = Field(description="false when the shop could not do it (the reply says so)")


class ChatResponse(BaseModel):
    session_id: str = Field(description="send it with the next message to continue this conversation")
    reply: str
    products: list[ProductOut]
    kind: str = Field(description="the message's act: search, refine, ask_product, compare, cart, service, "
                                  "smalltalk or out_of_scope")
    no_match: bool = Field(description="true when the products are the closest alternatives, not matches")
    constraints: str
    grounded: bool = Field(description="whether the reply passed the grounding check")
    notices: list[str] = []
    actions: list[Action] = Field([], description="what the shop did for this message, e.g. added a product to the cart")
    sources: list[str] = Field([], description="for a service answer: the ids of the policy documents it quotes")


class RecommendResponse(BaseModel):
    user_id: str | None
    products: list[ProductOut]


class EventIn(BaseModel):
    user_id: str = Field(min_length=1, max_length=MAX_ID_CHARS)
    item_id: str = Field(min_length=1, max_length=MAX_ID_CHARS)
    type: str = Field(description=f"one of {', '.join(EVENT_TYPES)}; others are rejected with a reason")
    session_id: str = Field("", max_length=MAX_ID_CHARS)
    # Strict: JSON true is not a time, and "1" as a string is read by parse_timestamp, not by pydantic.
    timestamp: StrictInt | StrictFloat | StrictStr | None = Field(None, description="unix seconds or ISO 8601; "
                                                                  "default: now")


class Rejected(BaseModel):
    index: int
    reason: str


class EventsResponse(BaseModel):
    accepted: int
    rejected: list[Rejected]


class DeleteResponse(BaseModel):
    deleted: dict[str, int]


class ConversationTurn(BaseModel):
    role: Literal["user", "customer", "shopper", "assistant", "agent", "system"]
    content: str = Field(max_length=MAX_MESSAGE_CHARS)


class SuggestRequest(BaseModel):
    conversation: list[ConversationTurn] | str = Field(description="turns, or pasted text with 'Customer:'/'Agent:' lines")
    user_id: str | None = Field(None, max_length=MAX_ID_CHARS)

    @field_validator("conversation")
    @classmethod
    def _bounded(cls, v: list[ConversationTurn] | str) -> list[ConversationTurn] | str:
        if isinstance(v, str) and len(v) > MAX_CONVERSATION_CHARS:
            raise ValueError(f"at most {MAX_CONVERSATION_CHARS:,} characters (paste the last messages only)")
        if isinstance(v, list) and len(v) > MAX_CONVERSATION_TURNS:
            raise ValueError(f"at most {MAX_CONVERSATION_TURNS} turns (send the last ones only)")
        return v


class SuggestResponse(BaseModel):
    suggested_reply: str
    kind: str
    products: list[ProductOut]
    policy_snippets: list[dict[str, str]]
    profile: dict[str, Any] | None


class Health(BaseModel):
    status: str
    products: int
    events: int
    predictor: str
