from __future__ import annotations

import numpy as np

from catalog.lexical import LexicalIndex, fuse, tokens


def test_tokens_fold_plurals_but_keep_numbers_and_ss():
    assert tokens("Women's Jackets, 1TB glass 12s") == ["women", "s", "jacket", "1tb", "glass", "12s"]


def test_bm25_ranks_the_rare_exact_token_first():
    index = LexicalIndex(["a", "b", "c"], ["blue cotton shirt", "Leviton 5410 feed-through switch", "blue switch plate"])
    scores = index.scores("leviton switch")
    assert scores.argmax() == 1
    assert scores[2] > 0 and scores[0] == 0  # "switch" alone scores, unrelated text does not
    assert np.all(index.scores("zzz unknown") == 0)
    assert list(index.scores_for("switch", ["c", "missing"])) == [scores[2] * 0 + index.scores("switch")[2], 0.0]


def test_fuse_keeps_dense_order_without_keyword_hits_and_lets_keywords_break_near_ties():
    dense = np.array([0.50, 0.49, 0.10])
    assert list(np.argsort(-fuse(dense, np.zeros(3)))) == [0, 1, 2]
    fused = fuse(dense, np.array([0.0, 5.0, 0.0]))
    assert fused.argmax() == 1


def test_fuse_averages_the_head_view_and_ignores_a_missing_one():
    dense = np.array([0.50, 0.49, 0.10])
    head = np.array([0.20, 0.60, 0.10])  # the second product's title matches much better
    assert fuse(dense, None, head=head).argmax() == 1
    assert np.allclose(fuse(dense, None, head=np.zeros(3)), fuse(dense, None))


def test_index_search_fuses_keywords_with_text_and_stays_dense_for_a_bare_vector(tmp_path, embedder):
    from catalog.config import CatalogConfig
    from catalog.index import ProductIndex
    from catalog.schema import Product

    index = ProductIndex(CatalogConfig(data_dir=tmp_path), embedder=embedder)
    index.upsert([Product("s1", "Rocker wall switch, white"), Product("s2", "Leviton 5410 feed-through switch"),
                  Product("m1", "Ceramic coffee mug")])
    vector = embedder.encode_one("leviton 5410 switch")
    dense = index.search(vector, k=3)
    fused = index.search(vector, k=3, text="leviton 5410 switch")
    assert [h.product.id for h in fused][0] == "s2"
    gap = lambda hits: hits[0].score - hits[1].score  # noqa: E731
    assert gap(fused) > 0 and {h.product.id for h in dense[:2]} == {"s1", "s2"}
    # The keywords (a model number the encoder barely sees) widen the winner's lead over the other switch.
    assert fused[1].product.id == "s1" and [h.score for h in dense] != [h.score for h in fused]
    index.upsert([Product("s3", "Leviton 5410 switch, ivory")])  # a write rebuilds the keyword index
    assert "s3" in [h.product.id for h in index.search(vector, k=2, text="leviton 5410 switch")]


def test_products_without_head_vectors_get_them_at_load(tmp_path, embedder):
    """An index written before head vectors existed (or a crash between the two writes) is repaired on load."""
    from catalog.config import CatalogConfig
    from catalog.index import ProductIndex
    from catalog.schema import Product

    config = CatalogConfig(data_dir=tmp_path)
    old = ProductIndex(config, embedder=embedder)
    products = [Product("a", "Leviton 5410 switch"), Product("b", "Ceramic coffee mug")]
    old.write(products, old.embed_products(products))  # no heads written
    assert old.heads.count() == 0
    fresh = ProductIndex(config, embedder=embedder)
    exact = fresh.exact_search()
    assert fresh.heads.count() == 2
    row = exact.pos["a"]
    assert np.allclose(exact.heads[row], embedder.encode([products[0].head_text()])[0], atol=1e-5)
    assert fresh.search("leviton switch", k=1)[0].product.id == "a"
