"""The loaded shop: live events change recommendations and the chat's ranking, deletion forgets everything,
the chat log is redacted."""
from __future__ import annotations

import numpy as np

from assistant.serving.chatlog import redact
from catalog.schema import model_key


def test_shop_has_a_fitted_recommender_over_the_whole_catalog_and_a_predictor(shop):
    assert shop.recommender.n_items == shop.index.count()
    assert shop.predictor is not None and "feature model" in shop.predictor_description
    assert len(shop.demo_users(5)) == 5


def test_an_add_to_cart_changes_that_users_recommendations_at_once_and_is_stored(shop):
    user = "test-shop-cart-user"
    before = [p.id for p, _ in shop.recommend(user, k=5)]
    jacket = next(p for p in shop.index.all_products() if "Jackets" in p.category)
    report = shop.log_event(user, jacket.id, "add_to_cart")
    assert report.accepted == 1 and not report.rejected
    after = shop.recommend(user, k=5)
    assert [p.id for p, _ in after] != before
    assert jacket.id not in [p.id for p, _ in after]  # already in the cart
    models = [model_key(p) for p, _ in after]
    assert model_key(jacket) not in models and len(set(models)) == len(models) == 5  # nor another colour of it
    assert sum("Jackets" in p.category for p, _ in after) >= 3  # similar items now lead
    assert [e.item_id for e in shop.events.history(user)] == [jacket.id]


def test_a_rejected_event_is_reported_and_not_applied(shop):
    user = "test-shop-bad-event"
    report = shop.log_event(user, "NO-SUCH-ITEM", "purchase")
    assert report.accepted == 0 and "unknown item" in report.rejected[0].reason
    assert shop.recommender.history_of(user) == [] and shop.events.history(user) == []


def test_personal_history_changes_the_chat_ranking_for_that_user_only(shop):
    query = "backpack"
    anonymous = shop.chat("test-shop-anon", query).products
    user = "test-shop-personal"
    liked = [p for p in shop.index.all_products() if "Backpacks" in p.category][-1]
    for _ in range(3):
        shop.log_event(user, liked.id, "purchase")
    personal = shop.chat("test-shop-personal-s", query, user_id=user).products
    same_brand = lambda ranked: sum(r.product.brand == liked.brand for r in ranked)  # noqa: E731
    assert same_brand(personal) >= same_brand(anonymous)
    anon_scores = {r.product.id: r.score for r in anonymous}
    assert any(abs(r.score - anon_scores[r.product.id]) > 1e-6 for r in personal if r.product.id in anon_scores) \
        or [r.product.id for r in personal] != [r.product.id for r in anonymous]
    # Another anonymous shopper still gets the anonymous ranking: nothing leaked.
    assert [r.product.id for r in anonymous] == [r.product.id for r in shop.chat("test-shop-anon-2", query).products]


def test_profile_infers_preferences_from_history(shop):
    user = shop.demo_users(1)[0]
    profile = shop.profile(user)
    assert profile["events"] == len(shop.events.history(user)) > 0
    assert profile["top_categories"] and profile["top_brands"]


def test_delete_user_forgets_events_live_history_sessions_and_chat_log(shop):
    user = "test-shop-delete-me"
    item = next(iter(shop.recommender.id_to_index))
    shop.log_event(user, item, "click")
    shop.chat("test-shop-delete-session", "my email is ann@example.com, any tents?", user_id=user)
    key = shop.session_key("test-shop-delete-session", user)
    assert "[email]" in shop.chatlog.conversation(key)[0]["content"]
    deleted = shop.delete_user(user)
    assert deleted == {"events": 1, "sessions": 1, "messages": 2}
    assert shop.events.history(user) == [] and shop.recommender.history_of(user) == []
    assert shop.chatlog.conversation(key) == []


def test_redact_removes_emails_and_phone_numbers_but_keeps_prices_and_sizes():
    text = "Call +44 20 7946 0958 or (415) 555-0101, mail a.b@shop.co.uk; budget $1,299.99, size 42, 2 pack"
    out = redact(text)
    assert "7946" not in out and "555-0101" not in out and "a.b@shop" not in out
    assert out.count("[phone]") == 2 and "[email]" in out
    assert "$1,299.99" in out and "size 42" in out and "2 pack" in out


def test_recommend_for_an_unknown_user_is_the_popularity_ranking(shop):
    ranked = shop.recommend("never-seen-anyone", k=5)
    pop = shop.recommender.popularity
    ids = [shop.recommender.index_to_id[i] for i in np.argsort(-pop, kind="stable") if i not in shop.unavailable]
    products = {p.id: p for p in shop.index.get(ids[:50])}
    top, models = [], set()
    for i in ids[:50]:  # in stock only, one product of each model (the best-selling colour or size)
        if model_key(products[i]) not in models:
            top.append(i)
            models.add(model_key(products[i]))
    assert [p.id for p, _ in ranked] == top[:5]


def test_cart_add_remove_and_recommendations_skip_out_of_stock(shop):
    session, user = "test-shop-cart", "test-shop-cart-panel-user"
    item = next(iter(shop.recommender.id_to_index))
    assert shop.add_to_cart(session, user, item) and [p.id for p in shop.cart(session, user)] == [item]
    assert shop.cart(session, "someone-else") == []  # carts belong to their session's user
    assert [e.type for e in shop.events.history(user)] == ["add_to_cart"]  # it counts as behaviour
    assert not shop.add_to_cart(session, user, "NO-SUCH-PRODUCT")
    assert shop.remove_from_cart(session, user, item) and shop.cart(session, user) == []
    assert not shop.remove_from_cart(session, user, item)
    assert shop.unavailable  # the demo has products out of stock ...
    recommended = {shop.recommender.id_to_index[p.id] for p, _ in shop.recommend(user, k=50)}
    assert not recommended & shop.unavailable  # ... and none is ever recommended


def test_asking_for_a_second_one_of_a_product_in_the_cart_says_so(shop):
    session = "test-shop-cart-twice"
    shop.chat(session, "waterproof hiking jacket under $100")
    added = shop.chat(session, "add the first one to my cart")
    assert added.kind == "cart" and added.actions[0]["ok"] and not added.actions[0].get("already")
    again = shop.chat(session, "make that two")
    assert again.kind == "cart" and again.actions[0].get("already") and "already in your cart" in again.reply
    assert len(shop.cart(session, None)) == 1  # nothing claimed that did not happen
