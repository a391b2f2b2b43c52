"""The Gradio views of the shop: the shopper's chat, the agent-assist view and the embeddable widget.

    shop = load_shop(...)
    chat, agent, widget = build_chat_ui(shop), build_agent_ui(shop), build_widget_ui(shop)
    gr.mount_gradio_app(app, chat, path="/", css=CSS)        # app.py mounts all three on the REST API's app

Each browser tab gets its own session id (a uuid in gr.State, kept on the server), so conversations never mix.
Who the shopper is comes from the page's `?user_token=` (signed by the shop's site, assistant/usertoken.py),
verified once when the page loads and kept in server-side state; in the demo shop a "Signed in as" selector
lets anyone try the synthetic demo users. Everyone else acts as the pseudo user "anon-<session id>": their
clicks and carts still personalise the "Recommended for you" strip within the session. Product cards sit in AssistantConfig.top_n fixed slots (a
column of escaped HTML and three buttons each, hidden when empty); the buttons log behaviour events through
shop.log_event, so the next recommendations change at once. All HTML is built by assistant/cards.py, escaped.
"""
from __future__ import annotations

import html
import logging
import uuid
from collections import Counter
from functools import partial
from typing import Any, Iterator

import gradio as gr

from assistant.events import DoneEvent, ProductsEvent, ReplaceEvent, TokenEvent
from assistant.serving.cards import (
    CSS,
    cards_html,
    cart_html,
    details_html,
    esc,
    policies_html,
    price_text,
    profile_html,
    recommendations_html,
)
from assistant.serving.limits import MAX_CHAT_HISTORY, MAX_CONVERSATION_CHARS, MAX_ID_CHARS, MAX_MESSAGE_CHARS
from assistant.serving.shop import Shop, parse_conversation
from assistant.serving.usertoken import InvalidToken, verify_user_token
from catalog.text import valid_text

log = logging.getLogger("assistant.serving.ui")

__all__ = ["build_chat_ui", "build_agent_ui", "build_widget_ui", "shopper_id", "CSS"]

LIST_KINDS = ("search", "refine")  # the acts that put a new list of products on screen
ANONYMOUS = "anonymous"
NO_CUSTOMER = "(no customer)"
ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth")
RECS_K = 4


def new_session_id() -> str:
    return str(uuid.uuid4())


def shopper_id(user: str | None, session_id: str) -> str:
    """The signed-in user, or a pseudo user for this browser session so an anonymous shopper's clicks count."""
    return user if user and user != ANONYMOUS else f"anon-{session_id}"


def signed_in_user(request: gr.Request | None, user_secret: str | None) -> tuple[str | None, str]:
    """The user proven by the page URL's ?user_token=, and a line for the shopper when the token is refused."""
    token = request.query_params.get("user_token") if request is not None else None
    if not token:
        return None, ""
    try:
        return verify_user_token(token, user_secret or ""), ""
    except InvalidToken as exc:
        log.info("user token refused: %s", exc)
        return None, "Your sign-in link could not be verified, so you are chatting as a guest."


def too_long(message: str) -> str | None:
    if len(message) <= MAX_MESSAGE_CHARS:
        return None
    return (f"Your message is {len(message):,} characters long; I can read at most {MAX_MESSAGE_CHARS:,}. "
            "It is still in the box: please shorten it and send it again.")


def chat_turn(shop: Shop, message: str, history: list[dict], session_id: str, user_id: str) -> Iterator[tuple]:
    """One chat message through shop.respond, as the chatbot sees it: yields (history, ranked products or None)
    with the products once (before the reply; None too when the message does not change the list on screen: a
    question about a shown product, a comparison, the cart) and the growing assistant message after every chunk. Message
    texts are escaped (HTML and markdown): a catalog title or a shopper's text must show as text, never load an
    image or a link. The browser sends the history back each turn: only its last messages are kept."""
    history = [*(history or [])[-MAX_CHAT_HISTORY:], {"role": "user", "content": _text(message)},
               {"role": "assistant", "content": ""}]
    text = ""
    for event in shop.respond(session_id, message, user_id):
        if isinstance(event, ProductsEvent):
            if event.kind in LIST_KINDS:
                yield history, list(event.products)
            continue
        if isinstance(event, TokenEvent):
            text += event.text
        elif isinstance(event, ReplaceEvent):  # a later sentence failed verification: the whole reply is replaced
            text = event.text
        elif isinstance(event, DoneEvent):
            text = event.reply
        history[-1] = {"role": "assistant", "content": _text(text)}
        yield history, None


def _text(text: str) -> str:
    """Chat text for a chatbot that renders neither markdown nor LaTeX: markup shows as text."""
    return html.escape(text, quote=False)


def _recs(shop: Shop, user: str | None, session_id: str) -> str:
    return recommendations_html(shop.recommend(shopper_id(user, session_id), RECS_K))


# ---- the shopper's chat ----------------------------------------------------------------------------------


def _chatbot(**kwargs: Any) -> gr.Chatbot:
    """A chatbot that shows text as text: no markdown (a catalog title "![x](http://...)" would load a remote
    image), no LaTeX ("$5 and $6" is two prices), and the content is HTML-escaped by _text."""
    return gr.Chatbot(render_markdown=False, latex_delimiters=[], sanitize_html=True, feedback_options=None,
                      buttons=["copy"], **kwargs)


def example_messages(shop: Shop) -> list[str]:
    """Example chips from the loaded catalog: its biggest category with a real budget, then a follow-up, a brand of
    that category to leave out, and a policy question when the shop has policies."""
    products = [p for p in shop.index.all_products() if p.category]
    if not products:
        return ["show me something popular", "cheaper?"]
    leaf = lambda p: p.category.split(">")[-1].strip()  # noqa: E731
    category = Counter(leaf(p) for p in products).most_common(1)[0][0]
    mine = [p for p in products if leaf(p) == category]
    prices = sorted(p.price for p in mine if p.price)
    budget = f" under ${_round_up(prices[len(prices) // 2])}" if prices else ""
    brands = Counter(p.brand for p in mine if p.brand).most_common(1)
    examples = [f"{category.lower()}{budget}", "cheaper?"] + ([f"not {brands[0][0]}"] if brands else [])
    return examples + (["what is your return policy?"] if shop.policies.count() else [])


def _round_up(price: float) -> int:
    step = 10 if price < 200 else 50 if price < 1000 else 100
    return int(-(-price // step) * step)


def build_chat_ui(shop: Shop, user_secret: str | None = None) -> gr.Blocks:
    return _ChatView(shop, user_secret).blocks


class _ChatView:
    """The shopper's chat page: the components (`_layout`), and what each event does (the methods)."""

    def __init__(self, shop: Shop, user_secret: str | None):
        self.shop, self.user_secret = shop, user_secret
        self.slots = shop.assistant.config.ranking.top_n
        with gr.Blocks(title="Shop assistant") as self.blocks:
            self._layout()
            self._wire()

    def _layout(self) -> None:
        self.sid = gr.State("")
        self.shown = gr.State([])  # product ids in the card slots, in order
        self.signed = gr.State(None)  # proven by ?user_token= at page load; server-side: the browser can't set it
        with gr.Row():
            with gr.Column(scale=4):
                gr.Markdown("## Shop assistant")
                self.chatbot = _chatbot(label="Chat", height=420, elem_id="chatbot")
                with gr.Row():
                    self.msg = gr.Textbox(placeholder="Ask for a product, or about delivery and returns",
                                          show_label=False, scale=5, elem_id="message", autofocus=True)
                    self.send = gr.Button("Send", variant="primary", scale=1, elem_id="send")
                gr.Examples([[e] for e in example_messages(self.shop)], [self.msg], label="Try")
                self._cards()
                self.status = gr.HTML("", elem_id="status")
                self.details = gr.HTML("", elem_id="details")
            with gr.Column(scale=1, min_width=220):
                if self.shop.demo:  # synthetic users: trying them out is the point of the demo
                    users = [("Anonymous shopper", ANONYMOUS), *[(u, u) for u in self.shop.demo_users(5)]]
                    self.user = gr.Dropdown(users, value=ANONYMOUS, label="Signed in as (demo users)",
                                            elem_id="user-select")
                else:  # a real shop's customers: only the shop's signed token says who is here
                    self.user = self.signed
                self.reset = gr.Button("New conversation", elem_id="reset")
                gr.Markdown("### Your cart")
                self.cart = gr.HTML(cart_html([]), elem_id="cart")
                with gr.Row():
                    self.cart_pick = gr.Dropdown([], show_label=False, elem_id="cart-pick", scale=3,
                                                 info="Remove a product from the cart")
                    self.cart_remove = gr.Button("Remove", size="sm", elem_id="cart-remove", scale=1)
                gr.Markdown("### Recommended for you")
                self.recs = gr.HTML("", elem_id="recs")

    def _cards(self) -> None:
        self.cols, self.htmls, self.buttons = [], [], []
        with gr.Row(elem_id="cards"):
            for i in range(self.slots):
                with gr.Column(visible=False, min_width=160, elem_id=f"card-{i}", elem_classes="shop-slot") as col:
                    self.htmls.append(gr.HTML(elem_id=f"card-html-{i}"))
                    with gr.Row():
                        self.buttons.append((
                            gr.Button("Details", size="sm", elem_id=f"details-{i}", elem_classes="card-details"),
                            gr.Button("Add to cart", size="sm", variant="primary", elem_id=f"add-to-cart-{i}",
                                      elem_classes="card-add-to-cart"),
                            gr.Button("More like this", size="sm", elem_id=f"more-like-{i}",
                                      elem_classes="card-more-like")))
                self.cols.append(col)

    def _wire(self) -> None:
        self.chat_outputs = [self.chatbot, self.msg, self.sid, self.shown, *self.htmls, *self.cols, self.status, self.recs,
                             self.cart, self.cart_pick]
        inputs = [self.msg, self.chatbot, self.sid, self.user]
        self.msg.submit(self.respond, inputs, self.chat_outputs, api_name="chat", concurrency_id="reply")
        self.send.click(self.respond, inputs, self.chat_outputs, api_visibility="private", concurrency_id="reply")
        # The details panel first: scroll_to_output brings it into view when it opens.
        act_outputs = [self.details, self.status, self.recs, self.cart, self.cart_pick]
        for i, (details_btn, cart_btn, more_btn) in enumerate(self.buttons):
            act_inputs = [self.sid, self.user, self.shown]
            details_btn.click(partial(self.act, i, "click"), act_inputs, act_outputs, api_visibility="private",
                              scroll_to_output=True)
            cart_btn.click(partial(self.act, i, "add_to_cart"), act_inputs, act_outputs, api_visibility="private")
            more_btn.click(partial(self.more_like, i), [self.chatbot, *act_inputs], self.chat_outputs,
                           api_visibility="private", concurrency_id="reply")
        if self.shop.demo:
            self.user.change(lambda u, s: _recs(self.shop, u, s), [self.user, self.sid], self.recs,
                             api_visibility="private")
        self.cart_remove.click(self.remove, [self.sid, self.user, self.cart_pick], [self.status, self.cart, self.cart_pick,
                                                                                    self.recs], api_visibility="private")
        self.reset.click(self.clear, [self.sid, self.user],
                         [self.chatbot, self.msg, self.shown, *self.htmls, *self.cols, self.status, self.details,
                          self.recs], api_visibility="private")
        self.blocks.load(self.start, [self.user], [self.sid, self.signed, self.status, self.recs],
                         api_visibility="private")

    def respond(self, message: str, history: list[dict], session_id: str, signed_in: str):
        shop, slots = self.shop, self.slots
        message = valid_text(str(message or "").strip())  # no lone surrogate: it could not be sent back
        if not message:
            yield tuple(gr.skip() for _ in self.chat_outputs)
            return
        session_id = session_id or new_session_id()
        refusal = too_long(message)
        if refusal:  # nothing is processed; the text stays in the box so the shopper loses nothing
            yield (gr.skip(), message, session_id, gr.skip(), *[gr.skip()] * (2 * slots), esc(refusal), gr.skip(),
                   gr.skip(), gr.skip())
            return
        keep, hist, ids = [gr.skip()] * (2 * slots), history, gr.skip()
        cards, visible = [gr.skip()] * slots, [gr.skip()] * slots  # unchanged unless this turn shows a new list
        box = ""  # the message box is emptied once, at the first update: what the shopper types meanwhile stays
        for hist, ranked in chat_turn(shop, message, history, session_id, shopper_id(signed_in, session_id)):
            if ranked is None:  # a reply chunk: only the chatbot changes
                yield (hist, box, session_id, gr.skip(), *keep, gr.skip(), gr.skip(), gr.skip(), gr.skip())
                box = gr.skip()
                continue
            ranked = ranked[:slots]
            ids = [r.product.id for r in ranked]
            cards = [cards_html([(r.product, r.reason, r.matches)]) for r in ranked] + [""] * (slots - len(ranked))
            visible = [gr.update(visible=i < len(ranked)) for i in range(slots)]
            yield (hist, box, session_id, ids, *cards, *visible, "", gr.skip(), gr.skip(), gr.skip())
            box = gr.skip()
        # The last update is complete: an API client (gradio_client) sees only this one. The chat may have changed
        # the cart ("add it to my cart").
        yield (hist, box, session_id, ids, *cards, *visible, "", _recs(shop, signed_in, session_id),
               *self._cart_view(session_id, signed_in))

    def act(self, slot: int, event_type: str, session_id: str, signed_in: str, ids: list[str]):
        """Details / add to cart on a card: log the behaviour event, then refresh the recommendations."""
        if slot >= len(ids or []):
            return (gr.skip(),) * 5
        session_id = session_id or new_session_id()
        user = shopper_id(signed_in, session_id)
        product = self.shop.product(ids[slot])
        title = product.title if product else ids[slot]
        if event_type == "add_to_cart":
            added = self.shop.add_to_cart(session_id, user, ids[slot])
            note = f"Added <b>{esc(title)}</b> to your cart." if added else "Could not add that product to the cart."
            return (gr.skip(), note, _recs(self.shop, signed_in, session_id), *self._cart_view(session_id, signed_in))
        report = self.shop.log_event(user, ids[slot], event_type, session_id=session_id)
        note = "" if report.accepted else "Could not record that: " + esc(report.rejected[0].reason if report.rejected
                                                                        else "rejected")
        panel = details_html(product) if product else gr.skip()
        return panel, note, _recs(self.shop, signed_in, session_id), gr.skip(), gr.skip()

    def remove(self, session_id: str, signed_in: str, product_id: str | None):
        if not session_id or not product_id:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        removed = self.shop.remove_from_cart(session_id, shopper_id(signed_in, session_id), product_id)
        note = "Removed it from your cart." if removed else "That product is not in your cart."
        return (note, *self._cart_view(session_id, signed_in), _recs(self.shop, signed_in, session_id))

    def _cart_view(self, session_id: str, signed_in: str):
        products = self.shop.cart(session_id, shopper_id(signed_in, session_id))
        choices = [(f"{p.title[:60]} ({price_text(p)})", p.id) for p in products]
        return cart_html(products), gr.update(choices=choices, value=None)

    def more_like(self, slot: int, history: list[dict], session_id: str, signed_in: str, ids: list[str]):
        """"More like this": a click on the card, then the chat message that refers to it by position."""
        if slot >= len(ids or []):
            yield tuple(gr.skip() for _ in self.chat_outputs)
            return
        session_id = session_id or new_session_id()
        self.shop.log_event(shopper_id(signed_in, session_id), ids[slot], "click", session_id=session_id)
        yield from self.respond(f"more like the {ORDINALS[slot]} one", history, session_id, signed_in)

    def start(self, signed_in: str | None, request: gr.Request):
        session_id = new_session_id()
        proven, note = signed_in_user(request, self.user_secret)
        who = signed_in if self.shop.demo else proven
        return session_id, proven, esc(note), _recs(self.shop, who, session_id)

    def clear(self, session_id: str, signed_in: str):
        if session_id:
            self.shop.reset(session_id, shopper_id(signed_in, session_id))
        hidden = [gr.update(visible=False)] * self.slots
        return ([], "", [], *([""] * self.slots), *hidden, "", "", _recs(self.shop, signed_in, session_id or ""))


# ---- the embeddable widget ------------------------------------------------------------------------------


def build_widget_ui(shop: Shop, user_secret: str | None = None) -> gr.Blocks:
    """A compact chat for an <iframe>: chatbot, input and compact cards; one session per tab. The shop's page
    may pass ?user_token= in the iframe URL to personalise; without one the shopper is anonymous."""
    with gr.Blocks(title="Shop assistant", fill_height=True) as demo:
        sid = gr.State(new_session_id)
        signed = gr.State(None)
        chatbot = _chatbot(show_label=False, height=300, elem_id="widget-chatbot")
        msg = gr.Textbox(placeholder="Ask the shop assistant", show_label=False, elem_id="widget-message")
        note = gr.HTML("", elem_id="widget-status")
        cards = gr.HTML("", elem_id="widget-cards")

        def respond(message: str, history: list[dict], session_id: str, user: str | None):
            message = valid_text(str(message or "").strip())  # no lone surrogate: it could not be sent back
            if not message:
                yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
                return
            session_id = session_id or new_session_id()
            refusal = too_long(message)
            if refusal:
                yield gr.skip(), message, session_id, gr.skip(), esc(refusal)
                return
            html, box = "", ""  # the box is emptied once: what the shopper types while the reply streams stays
            for hist, ranked in chat_turn(shop, message, history, session_id, shopper_id(user, session_id)):
                if ranked is not None:
                    html = cards_html([(r.product, r.reason, r.matches) for r in ranked], compact=True)
                yield hist, box, session_id, html if ranked is not None else gr.skip(), ""
                box = gr.skip()
            yield hist, box, session_id, html, ""  # complete, for API clients

        def start(request: gr.Request):
            proven, text = signed_in_user(request, user_secret)
            return proven, esc(text)

        msg.submit(respond, [msg, chatbot, sid, signed], [chatbot, msg, sid, cards, note], api_name="widget_chat",
                   concurrency_id="reply")
        demo.load(start, None, [signed, note], api_visibility="private")
    return demo


# ---- agent assist ----------------------------------------------------------------------------------------


def suggest(shop: Shop, customer: str | None, conversation: str) -> dict[str, Any]:
    """What the agent sees: suggested products with reasons, a suggested reply and policy snippets, computed in
    a throwaway assistant session (Shop.suggest) from the customer's last few messages."""
    conversation = valid_text(str(conversation or ""))
    if len(conversation) > MAX_CONVERSATION_CHARS:
        return {"products": [], "policies": [], "kind": "error",
                "reply": f"(The conversation is {len(conversation):,} characters long; paste at most "
                         f"{MAX_CONVERSATION_CHARS:,}, e.g. only its last messages.)"}
    user = valid_text(str(customer)[:MAX_ID_CHARS]) if customer and customer != NO_CUSTOMER else None
    said = [t for role, t in parse_conversation(conversation) if role == "customer"]
    if not said:
        recs = shop.recommend(user, 4) if user else []
        names = ", ".join(p.title for p, _ in recs[:2])
        reply = f"Hi! Based on your recent orders you might like {names}." if names else "Hi! How can I help you today?"
        return {"products": [(p, "recommended from the customer's history", True) for p, _ in recs],
                "reply": reply, "policies": [], "kind": "recommendation"}
    out = shop.suggest(said, user)
    return {"products": [(r.product, r.reason, r.matches) for r in out.products], "reply": out.reply,
            "policies": out.policy_snippets, "kind": out.kind}


def _transcript(shop: Shop, customer: str, session_id: str) -> str:
    # Only a stored session of the selected customer: the dropdown also accepts typed values.
    if not session_id or shop.chatlog is None or session_id not in shop.transcripts_of(customer or ""):
        return gr.skip()
    return "\n".join(f"{'agent' if m['role'] == 'assistant' else 'customer'}: {m['content']}"
                     for m in shop.chatlog.conversation(session_id))


def build_agent_ui(shop: Shop) -> gr.Blocks:
    customers = [NO_CUSTOMER, *shop.demo_users(5)]
    with gr.Blocks(title="Shop assistant: agent assist") as demo:
        gr.Markdown("## Agent assist")
        # Which purchase predictor ranks is for staff, not shoppers: it lives here, not on the chat page.
        gr.HTML(f'<div class="shop-muted">Purchase predictor: {esc(shop.predictor_description or "none")}</div>',
                elem_id="predictor")
        with gr.Row():
            with gr.Column(scale=1):
                customer = gr.Dropdown(customers, value=customers[1] if len(customers) > 1 else NO_CUSTOMER,
                                       label="Customer (pick or type an id)", elem_id="agent-customer",
                                       allow_custom_value=True)
                chats = gr.Dropdown([], label="Load a stored chat of this customer", elem_id="agent-chats",
                                    allow_custom_value=True)
                conversation = gr.Textbox(lines=8, label="Conversation (one message a line; customer:/agent: optional)",
                                          placeholder="customer: I need a waterproof jacket under $100",
                                          elem_id="agent-conversation")
                go = gr.Button("Suggest", variant="primary", elem_id="agent-suggest")
                profile = gr.HTML("", elem_id="agent-profile")
            with gr.Column(scale=2):
                reply = gr.Textbox(label="Suggested reply (edit, then copy)", lines=4, interactive=True,
                                   buttons=["copy"], elem_id="agent-reply")
                gr.Markdown("### Suggested products")
                products = gr.HTML("", elem_id="agent-products")
                gr.Markdown("### Policy snippets")
                policies = gr.HTML("", elem_id="agent-policies")

        def show_customer(user: str):
            user = valid_text(str(user or "").strip()[:MAX_ID_CHARS])
            if not user or user == NO_CUSTOMER:
                return '<div class="shop-muted">No customer selected.</div>', gr.update(choices=[], value=None)
            sessions = shop.transcripts_of(user)[:10]
            return profile_html(shop.profile(user)), gr.update(choices=sessions, value=None)

        def run(user: str, text: str):
            out = suggest(shop, user, text)
            return (out["reply"], cards_html(out["products"], empty="No products to suggest."),
                    policies_html(out["policies"]))

        customer.change(show_customer, [customer], [profile, chats], api_visibility="private")
        chats.change(lambda c, s: _transcript(shop, c, s), [customer, chats], [conversation], api_visibility="private")
        go.click(run, [customer, conversation], [reply, products, policies], api_name="suggest", concurrency_id="reply")
        conversation.submit(run, [customer, conversation], [reply, products, policies], api_visibility="private",
                            concurrency_id="reply")
        demo.load(show_customer, [customer], [profile, chats], api_visibility="private")
    return demo
