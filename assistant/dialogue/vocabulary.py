"""What a catalog calls things: its brands, category names at every level, colours, sizes and feature words, with
the patterns that find them in a message. Built from the loaded catalog (`Vocabulary.from_products`), so the
dialogue layer understands whatever shop it serves; shop-specific words (the demo's category synonyms) come in as
data, never as code.

    vocab = Vocabulary.from_products(index.all_products(), synonyms={"sneaker": "Running Shoes"})
    vocab.brand_re.finditer(text)                    # the catalog's brands in a lower-cased message
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

from catalog.schema import Product

BASE_COLOURS = ("black white grey red blue green yellow pink purple orange brown beige navy olive cream silver gold "
                "teal turquoise burgundy maroon khaki tan charcoal lavender coral ivory").split()
COLOUR_ALIASES = {"gray": "grey", "multicolor": "multicolour", "multi-colour": "multicolour",
                  "multi-color": "multicolour", "multicoloured": "multicolour", "multicolored": "multicolour"}
BASE_FEATURES = ("waterproof water-resistant windproof breathable lightweight packable insulated wireless "
                 "noise-cancelling ergonomic adjustable non-slip eco-friendly vegan organic rechargeable durable "
                 "foldable compact cushioned quiet warm").split()
TIER_WORDS = {"budget", "mid-range", "premium"}
GENERIC_HEADS = {"set", "card", "car", "tree", "bed", "toy", "bag", "block"}  # "knife set" is not a Building Set
GEAR_NOUNS = {"gear", "stuff", "product", "item", "thing", "equipment", "supply", "section", "category", "accessory"}
IRREGULAR = {"knives": "knife", "mice": "mouse", "shelves": "shelf", "leaves": "leaf", "feet": "foot",
             "women": "woman", "men": "man", "children": "child"}
WORD_RE = re.compile(r"[a-z0-9]+")  # category tokens


def _singular(word: str) -> str:
    if word in IRREGULAR:
        return IRREGULAR[word]
    if len(word) <= 3 or word.endswith(("ss", "us", "is")):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes", "zes")):
        return word[:-2]
    return word[:-1] if word.endswith("s") else word


def _key(text: str) -> str:
    return " ".join(text.lower().replace("&", " and ").split())


def _alternation(phrases: list[str]) -> re.Pattern[str]:
    """One regex for whole-word phrases, longest first; a group per phrase, named p0, p1, ... in the given order."""
    parts = []
    for i, phrase in enumerate(phrases):
        words = [r"(?:&|and)" if w in ("&", "and") else re.escape(w) for w in phrase.lower().split()]
        joined = r"[\s-]*".join(words)
        parts.append((len(phrase), rf"(?P<p{i}>{joined}\.?)"))
    body = "|".join(p for _, p in sorted(parts, key=lambda x: -x[0])) or "(?!)"
    first = "".join(sorted({re.escape(p[0].lower()) for p in phrases if p})) or "x"
    # The first-letter lookahead rejects most positions before the alternation is tried: long input stays fast.
    return re.compile(rf"(?<![\w&])(?=[{first}])(?:{body})(?![\w&])")


@dataclass
class Vocabulary:
    """What the catalog calls things: brands, category names at every level, colours, sizes and feature words."""

    brands: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)  # names at every level: "Outdoor", "Jackets", ...
    leaves: set[str] = field(default_factory=set)  # names that end some category path
    colours: list[str] = field(default_factory=list)
    sizes: list[str] = field(default_factory=list)
    features: list[str] = field(default_factory=list)
    category_sizes: dict[str, set[str]] = field(default_factory=dict)  # lower-cased category name -> its sizes
    synonyms: dict[str, str] = field(default_factory=dict)  # a shopper's word -> the shop's category name

    def __post_init__(self) -> None:
        self.brand_re = _alternation(self.brands)
        spelled = {c.lower(): c for c in self.colours}
        colour_words = [(c, c) for c in self.colours]
        colour_words += [(alias, spelled.get(name, name.title())) for alias, name in COLOUR_ALIASES.items()]
        self.colour_re = _alternation([word for word, _ in colour_words])
        self._colour_of = [colour for _, colour in colour_words]
        self.feature_re = _alternation(self.features)
        self._size_of = {s.lower(): s for s in self.sizes}
        self.size_word_re = _alternation([s for s in self.sizes if s.isalpha() and s.upper() not in
                                          {"XS", "XXS", "S", "M", "L", "XL", "XXL", "XXXL"}])
        self.category_index: dict[tuple[str, ...], str] = {}
        for name in self.categories:
            words = tuple(_singular(w) for w in WORD_RE.findall(name.lower()))
            if words:  # a name of punctuation only ("K.S" is one) would match every message
                self.category_index.setdefault(words, name)
        heads: dict[tuple[str, ...], list[str]] = {}
        for name in self.leaves:
            words = WORD_RE.findall(name.lower())
            if len(words) > 1 and len(words[-1]) > 2 and _singular(words[-1]) not in GENERIC_HEADS:
                heads.setdefault((_singular(words[-1]),), []).append(name)
        for head, names_ in heads.items():
            if len(names_) == 1:  # "mat" -> Yoga Mats; an ambiguous head means nothing
                self.category_index.setdefault(head, names_[0])
        # Flat category strings ("Industrial & Scientific Tapes, Adhesives & Sealants Duct Tape", Amazon's exports):
        # a shopper names the ending ("duct tape"), so the shortest ending no other category shares becomes an alias.
        flat = {name: tuple(_singular(w) for w in WORD_RE.findall(name.lower())) for name in self.leaves}
        flat = {name: words for name, words in flat.items() if len(words) > 3}
        endings = Counter(words[-n:] for words in flat.values() for n in (1, 2, 3))
        for name, words in flat.items():
            for n in (1, 2, 3):
                ending = words[-n:]
                if endings[ending] == 1 and not (n == 1 and (len(ending[0]) < 3 or ending[0] in GENERIC_HEADS | GEAR_NOUNS)):
                    self.category_index.setdefault(ending, name)
                    break
        lower = {c.lower(): c for c in self.categories}
        for word, name in self.synonyms.items():
            if name.lower() in lower:
                self.category_index.setdefault((word,), lower[name.lower()])

    @classmethod
    def from_products(cls, products: Iterable[Product], synonyms: dict[str, str] | None = None) -> Vocabulary:
        """The vocabulary of a catalog. synonyms: the shop's own words for its categories ("sneaker" -> "Running
        Shoes"), used only for categories the catalog has."""
        brands: dict[str, str] = {}
        categories: dict[str, str] = {}
        leaves: set[str] = set()
        colours: dict[str, str] = {}
        sizes: dict[str, str] = {}
        tags: set[str] = set()
        category_sizes: dict[str, set[str]] = {}
        for p in products:
            if p.brand:
                brands.setdefault(_key(p.brand), p.brand.strip())
            levels = [x.strip() for x in p.category.split(">") if x.strip()]
            for level in levels:
                categories.setdefault(level.lower(), level)
            if levels:
                leaves.add(categories[levels[-1].lower()])
            colour, size = str(p.attributes.get("colour") or "").strip(), str(p.attributes.get("size") or "").strip()
            if colour:
                colours.setdefault(colour.lower(), colour)
            if size:
                sizes.setdefault(size.lower(), size)
                for level in levels:
                    category_sizes.setdefault(level.lower(), set()).add(size)
            tags.update(t.lower() for t in p.tags)
        for c in BASE_COLOURS:
            colours.setdefault(c, c.title())
        features = sorted((tags - set(categories) - TIER_WORDS) | set(BASE_FEATURES))
        return cls(sorted(brands.values()), sorted(categories.values()), leaves, sorted(colours.values()),
                   sorted(sizes.values()), features, category_sizes, dict(synonyms or {}))

    def colour_of(self, match: re.Match[str]) -> str:
        return self._colour_of[int(match.lastgroup[1:])]

    def size(self, text: str) -> str | None:
        """The catalog spelling of a size ("m" -> "M", "us 9" -> "US 9"), or None when the catalog lacks it."""
        return self._size_of.get(" ".join(text.lower().split()))
