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
from functools import partial
from typing import Any, Iterator

import gradio as gr

from assistant.cards import CSS, cards_html, details_html, esc, policies_html, profile_html, recommendations_html
from assistant.limits import MAX_CHAT_HISTORY, MAX_CONVERSATION_CHARS, MAX_ID_CHARS, MAX_MESSAGE_CHARS, valid_text
from assistant.shop import parse_conversation
from assistant.usertoken import InvalidToken, verify_user_token

log = logging.getLogger("assistant.ui")

__all__ = ["build_chat_ui", "build_agent_ui", "build_widget_ui", "shopper_id", "CSS"]

ANONYMOUS = "anonymous"
NO_CUSTOMER = "(no customer)"
ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth")
EXAMPLES = ["waterproof hiking jacket under $100", "cheaper?", "not Trailhaven", "what is your return policy?"]
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


def chat_turn(shop: Any, message: str, history: list[dict], session_id: str, user_id: str) -> Iterator[tuple]:
    """One chat message through shop.respond, as the chatbot sees it: yields (history, ranked products or None)
    with the products once (before the reply) and the growing assistant message after every chunk. Message
    texts are escaped (HTML and markdown): a catalog title or a shopper's text must show as text, never load an
    image or a link. The browser sends the history back each turn: only its last messages are kept."""
    history = [*(history or [])[-MAX_CHAT_HISTORY:], {"role": "user", "content": _text(message)},
               {"role": "assistant", "content": ""}]
    text = ""
    for event in shop.respond(session_id, message, user_id):
        if event["type"] == "products":
            yield history, list(event["products"])
        elif event["type"] == "token":
            text += event["text"]
            history[-1] = {"role": "assistant", "content": _text(text)}
            yield history, None
        elif event["type"] == "replace":  # a later sentence failed verification: the whole reply is replaced
            text = event["text"]
            history[-1] = {"role": "assistant", "content": _text(text)}
            yield history, None
        elif event["type"] == "done":
            history[-1] = {"role": "assistant", "content": _text(event["reply"])}
            yield history, None


def _text(text: str) -> str:
    """Chat text for a chatbot that renders neither markdown nor LaTeX: markup shows as text."""
    return html.escape(text, quote=False)


def _recs(shop: Any, user: str | None, session_id: str) -> str:
    return recommendations_html(shop.recommend(shopper_id(user, session_id), RECS_K))


# ---- the shopper's chat ----------------------------------------------------------------------------------


def _chatbot(**kwargs: Any) -> gr.Chatbot:
    """A chatbot that shows text as text: no markdown (a catalog title "![x](http://...)" would load a remote
    image), no LaTeX ("$5 and $6" is two prices), and the content is HTML-escaped by _text."""
    return gr.Chatbot(render_markdown=False, latex_delimiters=[], sanitize_html=True, feedback_options=None,
                      buttons=["copy"], **kwargs)


def build_chat_ui(shop: Any, user_secret: str | None = None) -> gr.Blocks:
    slots = shop.assistant.config.top_n
    with gr.Blocks(title="Shop assistant") as demo:
        sid = gr.State("")
        shown = gr.State([])  # product ids in the card slots, in order
        signed = gr.State(None)  # the user proven by ?user_token= at page load; server-side, the browser can't set it
        with gr.Row():
            with gr.Column(scale=4):
                gr.Markdown("## Shop assistant")
                chatbot = _chatbot(label="Chat", height=420, elem_id="chatbot")
                with gr.Row():
                    msg = gr.Textbox(placeholder="Ask for a product, or about delivery and returns", show_label=False,
                                     scale=5, elem_id="message", autofocus=True)
                    send = gr.Button("Send", variant="primary", scale=1, elem_id="send")
                gr.Examples([[e] for e in EXAMPLES], [msg], label="Try")
                with gr.Row(elem_id="cards"):
                    cols, htmls, buttons = [], [], []
                    for i in range(slots):
                        with gr.Column(visible=False, min_width=160, elem_id=f"card-{i}", elem_classes="shop-slot") as col:
                            htmls.append(gr.HTML(elem_id=f"card-html-{i}"))
                            with gr.Row():
                                buttons.append((
                                    gr.Button("Details", size="sm", elem_id=f"details-{i}", elem_classes="card-details"),
                                    gr.Button("Add to cart", size="sm", variant="primary", elem_id=f"add-to-cart-{i}",
                                              elem_classes="card-add-to-cart"),
                                    gr.Button("More like this", size="sm", elem_id=f"more-like-{i}",
                                              elem_classes="card-more-like")))
                        cols.append(col)
                status = gr.HTML("", elem_id="status")
                details = gr.HTML("", elem_id="details")
            with gr.Column(scale=1, min_width=220):
                if shop.demo:  # synthetic users: trying them out is the point of the demo
                    users = [("Anonymous shopper", ANONYMOUS), *[(u, u) for u in shop.demo_users(5)]]
                    user = gr.Dropdown(users, value=ANONYMOUS, label="Signed in as (demo users)", elem_id="user-select")
                else:  # a real shop's customers: only the shop's signed token says who is here
                    user = signed
                reset = gr.Button("New conversation", elem_id="reset")
                gr.Markdown("### Recommended for you")
                recs = gr.HTML("", elem_id="recs")
                gr.Markdown(f"<small>Purchase predictor: {esc(shop.predictor_description or 'none')}</small>",
                            elem_id="predictor")

        chat_outputs = [chatbot, msg, sid, shown, *htmls, *cols, status, recs]

        def respond(message: str, history: list[dict], session_id: str, signed_in: str):
            message = valid_text(str(message or "").strip())  # no lone surrogate: it could not be sent back
            if not message:
                yield tuple(gr.skip() for _ in chat_outputs)
                return
            session_id = session_id or new_session_id()
            refusal = too_long(message)
            if refusal:  # nothing is processed; the text stays in the box so the shopper loses nothing
                yield (gr.skip(), message, session_id, gr.skip(), *[gr.skip()] * (2 * slots), esc(refusal), gr.skip())
                return
            keep, hist, ids = [gr.skip()] * (2 * slots), history, []
            cards, visible = [""] * slots, [gr.update(visible=False)] * slots
            for hist, ranked in chat_turn(shop, message, history, session_id, shopper_id(signed_in, session_id)):
                if ranked is None:  # a reply chunk: only the chatbot changes
                    yield (hist, "", session_id, gr.skip(), *keep, gr.skip(), gr.skip())
                    continue
                ranked = ranked[:slots]
                ids = [r.product.id for r in ranked]
                cards = [cards_html([(r.product, r.reason, r.matches)]) for r in ranked] + [""] * (slots - len(ranked))
                visible = [gr.update(visible=i < len(ranked)) for i in range(slots)]
                yield (hist, "", session_id, ids, *cards, *visible, "", gr.skip())
            # The last update is complete: an API client (gradio_client) sees only this one.
            yield (hist, "", session_id, ids, *cards, *visible, "", _recs(shop, signed_in, session_id))

        def act(slot: int, event_type: str, session_id: str, signed_in: str, ids: list[str]):
            """Details / add to cart on a card: log the behaviour event, then refresh the recommendations."""
            if slot >= len(ids or []):
                return gr.skip(), gr.skip(), gr.skip()
            session_id = session_id or new_session_id()
            product = shop.product(ids[slot])
            report = shop.log_event(shopper_id(signed_in, session_id), ids[slot], event_type, session_id=session_id)
            title = product.title if product else ids[slot]
            if not report.accepted:
                note = f"Could not record that: {esc(report.rejected[0].reason if report.rejected else 'rejected')}"
            elif event_type == "add_to_cart":
                note = f"Added <b>{esc(title)}</b> to your cart."
            else:
                note = ""
            panel = details_html(product) if event_type == "click" and product else gr.skip()
            return note, panel, _recs(shop, signed_in, session_id)

        def more_like(slot: int, history: list[dict], session_id: str, signed_in: str, ids: list[str]):
            """"More like this": a click on the card, then the chat message that refers to it by position."""
            if slot >= len(ids or []):
                yield tuple(gr.skip() for _ in chat_outputs)
                return
            session_id = session_id or new_session_id()
            shop.log_event(shopper_id(signed_in, session_id), ids[slot], "click", session_id=session_id)
            yield from respond(f"more like the {ORDINALS[slot]} one", history, session_id, signed_in)

        def start(signed_in: str | None, request: gr.Request):
            session_id = new_session_id()
            proven, note = signed_in_user(request, user_secret)
            who = signed_in if shop.demo else proven
            return session_id, proven, esc(note), _recs(shop, who, session_id)

        def clear(session_id: str, signed_in: str):
            if session_id:
                shop.reset(session_id, shopper_id(signed_in, session_id))
            hidden = [gr.update(visible=False)] * slots
            return ([], "", [], *([""] * slots), *hidden, "", "", _recs(shop, signed_in, session_id or ""))

        inputs = [msg, chatbot, sid, user]
        msg.submit(respond, inputs, chat_outputs, api_name="chat", concurrency_id="reply")
        send.click(respond, inputs, chat_outputs, api_visibility="private", concurrency_id="reply")
        for i, (details_btn, cart_btn, more_btn) in enumerate(buttons):
            details_btn.click(partial(act, i, "click"), [sid, user, shown], [status, details, recs],
                              api_visibility="private")
            cart_btn.click(partial(act, i, "add_to_cart"), [sid, user, shown], [status, details, recs],
                           api_visibility="private")
            more_btn.click(partial(more_like, i), [chatbot, sid, user, shown], chat_outputs, api_visibility="private",
                           concurrency_id="reply")
        if shop.demo:
            user.change(lambda u, s: _recs(shop, u, s), [user, sid], recs, api_visibility="private")
        reset.click(clear, [sid, user], [chatbot, msg, shown, *htmls, *cols, status, details, recs],
                    api_visibility="private")
        demo.load(start, [user], [sid, signed, status, recs], api_visibility="private")
    return demo


# ---- the embeddable widget ------------------------------------------------------------------------------


def build_widget_ui(shop: Any, user_secret: str | None = None) -> gr.Blocks:
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
            html = ""
            for hist, ranked in chat_turn(shop, message, history, session_id, shopper_id(user, session_id)):
                if ranked is not None:
                    html = cards_html([(r.product, r.reason, r.matches) for r in ranked], compact=True)
                yield hist, "", session_id, html if ranked is not None else gr.skip(), ""
            yield hist, "", session_id, html, ""  # complete, for API clients

        def start(request: gr.Request):
            proven, text = signed_in_user(request, user_secret)
            return proven, esc(text)

        msg.submit(respond, [msg, chatbot, sid, signed], [chatbot, msg, sid, cards, note], api_name="widget_chat",
                   concurrency_id="reply")
        demo.load(start, None, [signed, note], api_visibility="private")
    return demo


# ---- agent assist ----------------------------------------------------------------------------------------


def suggest(shop: Any, customer: str | None, conversation: str) -> dict[str, Any]:
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
    return {"products": [(r.product, r.reason, r.matches) for r in out.get("products", [])], "reply": out.get("reply", ""),
            "policies": out.get("policy_snippets", []), "kind": out.get("kind", "")}


def _transcript(shop: Any, customer: str, session_id: str) -> str:
    # Only a stored session of the selected customer: the dropdown also accepts typed values.
    if not session_id or shop.chatlog is None or session_id not in shop.transcripts_of(customer or ""):
        return gr.skip()
    return "\n".join(f"{'agent' if m['role'] == 'assistant' else 'customer'}: {m['content']}"
                     for m in shop.chatlog.conversation(session_id))


def build_agent_ui(shop: Any) -> gr.Blocks:
    customers = [NO_CUSTOMER, *shop.demo_users(5)]
    with gr.Blocks(title="Shop assistant: agent assist") as demo:
        gr.Markdown("## Agent assist")
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
