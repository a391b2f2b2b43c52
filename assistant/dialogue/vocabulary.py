"""What a catalog calls things: its brands, category names at every level, colours (and their families), sizes,
feature words and materials, with the patterns that find them in a message, and the words it knows (the typo
corrector's list, assistant/dialogue/spelling.py). Built from the loaded catalog (`Vocabulary.from_products`), so
the dialogue layer understands whatever shop it serves; shop-specific words (the demo's category synonyms) come in
as data, never as code. General tables (colour families, materials, audience words) apply only where the catalog's
own text uses them. Who a product is for is read here too, from its own title, tags and attributes.

    vocab = Vocabulary.from_products(index.all_products(), synonyms={"sneaker": "Running Shoes"})
    vocab.brand_re.finditer(text)                    # the catalog's brands in a lower-cased message
    vocab.colour_family("Blue")                      # ["Blue", "Midnight Blue", "Navy", "Sky Blue"]: every shade
    product_audiences(product)                       # {"women"} for "Women's Trail Shoe" or gender: Female
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable

from assistant.dialogue.spelling import Speller, english_words
from catalog.schema import Product

BASE_COLOURS = ("black white grey red blue green yellow pink purple orange brown beige navy olive cream silver gold "
                "teal turquoise burgundy maroon khaki tan charcoal lavender coral ivory").split()
COLOUR_ALIASES = {"gray": "grey", "multicolor": "multicolour", "multi-colour": "multicolour",
                  "multi-color": "multicolour", "multicoloured": "multicolour", "multicolored": "multicolour"}
BASE_FEATURES = ("waterproof water-resistant windproof breathable lightweight packable insulated wireless "
                 "noise-cancelling ergonomic adjustable non-slip eco-friendly vegan organic rechargeable durable "
                 "foldable compact cushioned quiet warm").split()
TIER_WORDS = {"budget", "mid-range", "premium"}
# How many, never what: "a tent for two", "for 4 people" name no product, so no catalog needs to use the word.
COUNT_WORDS = set("""one two three four five six seven eight nine ten eleven twelve couple pair dozen people person
persons adults adult guests""".split())
GENERIC_HEADS = {"set", "card", "car", "tree", "bed", "toy", "bag", "block"}  # "knife set" is not a Building Set
GEAR_NOUNS = {"gear", "stuff", "product", "item", "thing", "equipment", "supply", "section", "category", "accessory"}
IRREGULAR = {"knives": "knife", "mice": "mouse", "shelves": "shelf", "leaves": "leaf", "feet": "foot",
             "women": "woman", "men": "man", "children": "child"}
WORD_RE = re.compile(r"[a-z0-9]+")  # category tokens
TEXT_WORD_RE = re.compile(r"[a-z]+(?:-[a-z]+)*")  # words of titles and tags, hyphenated compounds kept whole

# Colour words -> the families a shopper names, a general table: "blue" asks for Navy, Cobalt and Sky Blue too. A
# catalog colour belongs to the families of its words ("Forest Green" -> green); teal and khaki sit in two.
_FAMILY_WORDS = (("black", "black jet onyx ebony noir"), ("white", "white ivory snow pearl alabaster chalk"),
                 ("grey", "grey gray charcoal graphite slate gunmetal ash smoke pewter heather stone"),
                 ("silver", "silver chrome platinum"), ("gold", "gold champagne"),
                 ("red", "red burgundy maroon wine crimson scarlet cherry ruby brick oxblood claret cardinal"),
                 ("blue", "blue navy cobalt indigo azure sapphire denim cerulean sky teal turquoise aqua cyan"),
                 ("green", "green olive sage mint emerald forest lime jade moss teal turquoise aqua khaki"),
                 ("yellow", "yellow mustard lemon canary ochre"),
                 ("orange", "orange terracotta rust tangerine apricot amber coral peach"),
                 ("pink", "pink rose blush fuchsia magenta salmon coral"),
                 ("purple", "purple violet lavender lilac plum mauve aubergine eggplant"),
                 ("brown", "brown chocolate coffee mocha espresso chestnut tan camel cognac caramel bronze"),
                 ("beige", "beige cream sand khaki taupe ecru oatmeal nude"),
                 ("multicolour", "multicolour multicolor multi rainbow assorted"))
COLOUR_FAMILIES = {w: tuple(f for f, words in _FAMILY_WORDS if w in words.split())
                   for _, words in _FAMILY_WORDS for w in words.split()}
FAMILY_NAMES = {family for family, _ in _FAMILY_WORDS}
# Materials a shopper may ask for; used for a catalog only where its own text names them (a soft preference).
BASE_MATERIALS = [m.replace("-", " ") for m in (
    "leather suede cotton linen wool merino cashmere silk denim canvas polyester nylon fleece velvet satin "
    "stainless-steel steel aluminium aluminum titanium carbon-fibre carbon-fiber cast-iron copper brass bronze wood "
    "bamboo oak walnut cedar teak cork glass ceramic porcelain stoneware plastic silicone rubber latex nitrile vinyl "
    "neoprene memory-foam foam marble granite concrete paper cardboard mesh jute sisal rattan wicker").split()]
NOT_MATERIALS = {"down", "other", "mixed", "various", "none", "n/a", "unknown", "synthetic"}  # "calm down"
# Words of those forms that do not name a feature a shopper asks for ("available in blue", "suitable for kids").
NOT_FEATURES = {"available", "suitable", "reliable", "variable", "capable", "applicable", "acceptable", "possible",
                "responsible", "visible", "valuable", "vegetable", "timetable", "turntable", "crucible", "unless",
                "regardless", "nevertheless", "table", "cable", "stable"}
# Words that make a title word a feature a shopper asks for: "powder-free", "dishwasher-safe", "rechargeable".
FEATURE_SUFFIXES = {"proof": 3, "free": 3, "resistant": 3, "safe": 3, "friendly": 3, "wicking": 3, "sealed": 3,
                    "cancelling": 3, "canceling": 3, "less": 4, "able": 4, "ible": 4}  # suffix -> shortest stem
FEATURE_PREFIXES = ("non-", "anti-", "self-")  # "non-slip", "anti-fog", "self-adhesive"

# Who a product is for, from its own words. "male"/"female" count only as an attribute value: in a title they are
# usually connector genders ("Female Luer Lock"); "baby" (as in "Baby Blue") and "man" ("Spider-Man") likewise.
TITLE_AUDIENCES = {"women": ("women",), "woman": ("women",), "womens": ("women",), "ladies": ("women",),
                   "men": ("men",), "mens": ("men",), "kids": ("kids",), "kid": ("kids",), "children": ("kids",),
                   "childrens": ("kids",), "boys": ("kids",), "girls": ("kids",), "toddler": ("kids",),
                   "toddlers": ("kids",), "youth": ("kids",), "junior": ("kids",), "juniors": ("kids",),
                   "unisex": ("unisex",), "adult": ("men", "women"), "adults": ("men", "women")}
ATTRIBUTE_AUDIENCES = {**TITLE_AUDIENCES, "female": ("women",), "male": ("men",), "man": ("men",), "lady": ("women",),
                       "boy": ("kids",), "girl": ("kids",), "baby": ("kids",), "infant": ("kids",),
                       "child": ("kids",)}
AUDIENCE_KEYS = ("gender", "audience", "target_audience", "target_gender", "department", "sex", "age_group")
# A shopper naming who it is for: "women's", "for her", "for my husband", "a gift for my son".
_RELATIVES = {"women": "wife girlfriend mom mum mother sister grandma grandmother aunt fiancee",
              "men": "husband boyfriend dad father brother grandpa grandfather uncle fiance",
              "kids": "son daughter grandson granddaughter nephew niece toddler baby kid kids child children"}
_PEOPLE = {"women": "women woman womens ladies lady female", "men": "men man mens gentlemen gents male",
           "kids": "kids kid children child boys girls boy girl toddlers toddler teens teen teenager youth",
           "unisex": "unisex gender-neutral"}
AUDIENCE_RE = re.compile(
    r"(?<![\w-])(?:(?:for\s+)?(?:my|our|his|her)\s+(?:little\s+|teenage\s+)?(?P<rel>"
    + "|".join(w for words in _RELATIVES.values() for w in sorted(words.split(), key=len, reverse=True))
    + r")s?|for\s+(?P<pron>her|him))(?![\w-])|(?<![\w-])(?P<word>"
    + "|".join(w for words in _PEOPLE.values() for w in sorted(words.split(), key=len, reverse=True))
    + r")(?:'s|s'|')?(?![\w-])")
AUDIENCE_NEGATION_RE = re.compile(r"\b(?:not|no|nothing|except|without)\s+(?:for\s+)?$")  # "not for kids"
_AUDIENCE_OF = {w: a for table in (_RELATIVES, _PEOPLE) for a, words in table.items() for w in words.split()}
_AUDIENCE_OF.update(her="women", him="men")


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


def _stem(word: str) -> str:
    """The form a category word is matched by: singular, and "-ie" read as "-y", since "hoodies" and "cookies"
    lose their "-ie" to the "-ies" rule ("batteries" -> "battery") while "hoodie" keeps it."""
    word = _singular(word)
    return word[:-2] + "y" if word.endswith("ie") and len(word) > 3 else word


def _key(text: str) -> str:
    return " ".join(text.lower().replace("&", " and ").split())


def _alternation(phrases: list[str]) -> re.Pattern[str]:
    """One regex for whole-word phrases, longest first; a group per phrase, named p0, p1, ... in the given order."""
    parts = []
    for i, phrase in enumerate(phrases):
        # Hyphens and spaces alike: "powder-free" is also "powder free", "PORTER-CABLE" also "porter cable".
        words = [r"(?:&|and)" if w in ("&", "and") else re.escape(w) for w in re.split(r"[\s-]+", phrase.lower()) if w]
        joined = r"[\s-]*".join(words)
        parts.append((len(phrase), rf"(?P<p{i}>{joined}\.?)"))
    body = "|".join(p for _, p in sorted(parts, key=lambda x: -x[0])) or "(?!)"
    first = "".join(sorted({re.escape(p[0].lower()) for p in phrases if p})) or "x"
    # The first-letter lookahead rejects most positions before the alternation is tried: long input stays fast.
    return re.compile(rf"(?<![\w&])(?=[{first}])(?:{body})(?![\w&])")


@dataclass
class Vocabulary:
    """What the catalog calls things: brands, category names at every level, colours, sizes, feature words and
    materials, and the words it knows (for typo correction)."""

    brands: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)  # names at every level: "Outdoor", "Jackets", ...
    leaves: set[str] = field(default_factory=set)  # names that end some category path
    colours: list[str] = field(default_factory=list)
    sizes: list[str] = field(default_factory=list)
    features: list[str] = field(default_factory=list)
    category_sizes: dict[str, set[str]] = field(default_factory=dict)  # lower-cased category name -> its sizes
    synonyms: dict[str, str] = field(default_factory=dict)  # a shopper's word -> the shop's category name
    attribute_colours: list[str] = field(default_factory=list)  # colours the products record (filterable)
    materials: list[str] = field(default_factory=list)
    words: dict[str, int] = field(default_factory=dict)  # every word of titles, tags and attributes -> products
    currency: str = "USD"  # the currency most of the catalog's prices are in

    def __post_init__(self) -> None:
        self.brand_re = _alternation(self.brands)
        spelled = {c.lower(): c for c in self.colours}
        colour_words = [(c, c) for c in self.colours]
        colour_words += [(alias, spelled.get(name, name.title())) for alias, name in COLOUR_ALIASES.items()]
        self.colour_re = _alternation([word for word, _ in colour_words])
        self._colour_of = [colour for _, colour in colour_words]
        self.feature_re = _alternation(self.features)
        self.material_re = _alternation(self.materials)
        self._size_of = {s.lower(): s for s in self.sizes}
        self.size_word_re = _alternation([s for s in self.sizes if s.isalpha() and s.upper() not in
                                          {"XS", "XXS", "S", "M", "L", "XL", "XXL", "XXXL"}])
        self._shades: dict[str, list[str]] = {}  # colour family -> the catalog's colours in it
        for colour in self.attribute_colours:
            for family in colour_families(colour):
                self._shades.setdefault(family, []).append(colour)
        self._index_categories()
        self._singulars = {_singular(w) for w in self.words}  # "durag" finds "Silky Durags"
        core = [*self.categories, *self.brands, *self.colours, *self.features, *self.materials, *self.synonyms,
                *[s for s in self.sizes if s.isalpha()], *_AUDIENCE_OF]
        core_words = {w for phrase in core for w in WORD_RE.findall(phrase.lower())}
        core_words |= {_singular(w) for name in self.categories for w in WORD_RE.findall(name.lower())}  # "caliper"
        # Other title words are targets only when they are English: a model name ("Luma") is no correction of an
        # unknown brand ("puma"), while "pipette" and "caliper" are.
        english = english_words()
        self.speller = Speller({w: self.words.get(w, 0) for w in core_words},
                               {w: n for w, n in self.words.items() if n >= 2 and w in english}, known=self.words)

    def _index_categories(self) -> None:
        """Word tuples a shopper may use for a category -> its name: the names, unique heads, flat endings, synonyms."""
        self.category_index: dict[tuple[str, ...], str] = {}
        for name in self.categories:
            words = tuple(_stem(w) for w in WORD_RE.findall(name.lower()))
            if words:  # a name of punctuation only ("K.S" is one) would match every message
                self.category_index.setdefault(words, name)
        heads: dict[tuple[str, ...], list[str]] = {}
        for name in self.leaves:
            words = WORD_RE.findall(name.lower())
            if len(words) > 1 and len(words[-1]) > 2 and _singular(words[-1]) not in GENERIC_HEADS:
                heads.setdefault((_stem(words[-1]),), []).append(name)
        for head, names_ in heads.items():
            if len(names_) == 1:  # "mat" -> Yoga Mats; an ambiguous head means nothing
                self.category_index.setdefault(head, names_[0])
        # Flat category strings ("Industrial & Scientific Tapes, Adhesives & Sealants Duct Tape", Amazon's exports):
        # a shopper names the ending ("duct tape"), so the shortest ending no other category shares becomes an alias.
        flat = {name: tuple(_stem(w) for w in WORD_RE.findall(name.lower())) for name in self.leaves}
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
                self.category_index.setdefault(tuple(_stem(w) for w in WORD_RE.findall(word.lower())), lower[name.lower()])

    @classmethod
    def from_products(cls, products: Iterable[Product], synonyms: dict[str, str] | None = None) -> Vocabulary:
        """The vocabulary of a catalog. synonyms: the shop's own words for its categories ("sneaker" -> "Running
        Shoes"), used only for categories the catalog has."""
        seen = _collect(products)
        categories = seen["categories"]
        colours = dict(seen["colours"])
        for c in BASE_COLOURS:
            colours.setdefault(c, c.title())
        words: Counter[str] = seen["words"]
        materials = {m.lower(): m for m in seen["materials"]}
        for m in BASE_MATERIALS:  # a general material counts where the catalog's own text names it
            if all(words.get(w) for w in m.split()):
                materials.setdefault(m, m)
        materials = {k: v for k, v in materials.items() if k not in NOT_MATERIALS}
        least = 1 if seen["count"] < 200 else 2  # a word in one title of a big catalog is too often noise
        named = {w for w, n in words.items() if n >= least and _is_feature_word(w)}
        material_words = {w for m in materials for w in m.split()}
        brand_words = {w for b in seen["brands"] for w in TEXT_WORD_RE.findall(b)}  # "Porter-Cable" is no feature
        named -= NOT_FEATURES | brand_words
        features = (seen["tags"] | named | seen["flags"]) - set(categories) - TIER_WORDS - material_words
        features = sorted(features - set(COLOUR_FAMILIES) | set(BASE_FEATURES))
        return cls(sorted(seen["brands"].values()), sorted(categories.values()), seen["leaves"],
                   sorted(colours.values()), sorted(seen["sizes"].values()), features, seen["category_sizes"],
                   dict(synonyms or {}), sorted(seen["colours"].values()), sorted(materials.values()), dict(words),
                   seen["currencies"].most_common(1)[0][0] if seen["currencies"] else "USD")

    def generic(self, text: str) -> str:
        """The text with the catalog's category names and brands said as "item": what a policy says about "a jacket
        I bought" it says about any item, and a product word only pulls a policy question towards the wrong text."""
        text = self.brand_re.sub("item", text.lower())  # the patterns match lower-cased text
        spans = list(TEXT_WORD_RE.finditer(text))
        words = [_stem(m.group(0)) for m in spans]
        out, last, i = [], 0, 0
        while i < len(words):
            for n in (3, 2, 1):
                if i + n <= len(words) and tuple(words[i:i + n]) in self.category_index:
                    out += [text[last:spans[i].start()], "item"]
                    last, i = spans[i + n - 1].end(), i + n
                    break
            else:
                i += 1
        return "".join([*out, text[last:]])

    def names_all(self, words: list[str]) -> bool:
        """Whether the catalog's own product text uses every word (numbers aside; plurals as singulars) and there
        is at least one: "gas can nozzle" in a shop that sells gas can nozzles."""
        words = [w for w in words if not w.replace(".", "").isdigit()]
        return bool(words) and all(w in self.words or _singular(w) in self._singulars for w in words)

    def unknown(self, words: list[str]) -> list[str]:
        """The words (of three letters or more, not numbers or counts) that no product text of the catalog uses, in any
        singular or plural form: what a search for them cannot find."""
        return [w for w in dict.fromkeys(words) if len(w) >= 3 and w.isalpha() and w not in self.words
                and _singular(w) not in self._singulars and w not in self._singulars and w not in COUNT_WORDS]

    def colour_of(self, match: re.Match[str]) -> str:
        return self._colour_of[int(match.lastgroup[1:])]

    def colour_family(self, colour: str) -> list[str]:
        """Every catalog colour a shopper's colour stands for, itself included: a family name ("Blue") brings its
        shades (Navy, Sky Blue, Midnight Blue); a shade ("Navy") or a family the catalog has no shades of gives []."""
        name = COLOUR_ALIASES.get(colour.lower(), colour.lower())
        others = [c for c in self._shades.get(name, []) if c.lower() != colour.lower()] if name in FAMILY_NAMES else []
        return sorted([colour, *others]) if others else []

    def size(self, text: str) -> str | None:
        """The catalog spelling of a size ("m" -> "M", "us 9" -> "US 9"), or None when the catalog lacks it."""
        return self._size_of.get(" ".join(text.lower().split()))


def _collect(products: Iterable[Product]) -> dict[str, Any]:
    """One pass over the catalog: names, colours, sizes, tags, materials, yes/no attributes and word counts."""
    seen: dict[str, Any] = {"brands": {}, "categories": {}, "leaves": set(), "colours": {}, "sizes": {},
                            "tags": set(), "category_sizes": {}, "materials": set(), "flags": set(),
                            "words": Counter(), "count": 0, "currencies": Counter()}
    for p in products:
        seen["count"] += 1
        if p.price is not None and p.currency:
            seen["currencies"][p.currency.upper()] += 1
        if p.brand:
            seen["brands"].setdefault(_key(p.brand), p.brand.strip())
        levels = [x.strip() for x in p.category.split(">") if x.strip()]
        for level in levels:
            seen["categories"].setdefault(level.lower(), level)
        if levels:
            seen["leaves"].add(seen["categories"][levels[-1].lower()])
        colour, size = str(p.attributes.get("colour") or "").strip(), str(p.attributes.get("size") or "").strip()
        if colour:
            seen["colours"].setdefault(colour.lower(), colour)
        if size:
            seen["sizes"].setdefault(size.lower(), size)
            for level in levels:
                seen["category_sizes"].setdefault(level.lower(), set()).add(size)
        seen["tags"].update(t.lower() for t in p.tags)
        for key in ("material", "materials", "fabric"):
            seen["materials"].update(m.strip().lower() for m in re.split(r"[,/;]| and ", str(p.attributes.get(key) or ""))
                                     if m.strip())
        values = []
        for key, value in p.attributes.items():
            if str(value).strip().lower() in ("yes", "true"):  # "waterproof: yes" makes "waterproof" a feature
                flag = str(key).replace("_", " ").lower()
                seen["flags"].add(flag)
                values.append(flag)  # and a word the catalog uses: "anything with a hood?" is not unknown
            values.append(str(value))
        text = " ".join([p.title, p.brand, *p.tags, *values]).lower()
        found = set(TEXT_WORD_RE.findall(text))
        seen["words"].update(found | {part for w in found if "-" in w for part in w.split("-")})
    return seen


def _is_feature_word(word: str) -> bool:
    """A title word that names a feature by its form: "powder-free", "rechargeable", "non-slip", "cordless"."""
    if word.startswith(FEATURE_PREFIXES) and len(word) > 6:
        return True
    for suffix, stem in FEATURE_SUFFIXES.items():
        if word.endswith(suffix) and len(word[:-len(suffix)].rstrip("-")) >= stem:
            return True
    return False


def colour_families(colour: str) -> set[str]:
    """The families of a catalog colour, from its words: "Forest Green" -> {green}, "Navy" -> {blue}."""
    words = WORD_RE.findall(COLOUR_ALIASES.get(colour.lower(), colour.lower()))
    return {family for w in words for family in COLOUR_FAMILIES.get(COLOUR_ALIASES.get(w, w), ())}


def product_audiences(p: Product) -> frozenset[str]:
    """Who a product says it is for ("women", "men", "kids", "unisex"; "adults" is men and women), from an audience
    attribute (gender, department, ...), its title and tags; empty when it does not say."""
    found: set[str] = set()
    for key in AUDIENCE_KEYS:
        for w in WORD_RE.findall(str(p.attributes.get(key) or "").lower()):
            found.update(ATTRIBUTE_AUDIENCES.get(w, ()))
    for w in WORD_RE.findall(" ".join([p.title, *p.tags]).lower()):
        found.update(TITLE_AUDIENCES.get(w, ()))
    return frozenset(found)


def fits_audience(wanted: str, audiences: frozenset[str]) -> bool:
    """A product fits unless it names only other audiences: "Men's" is out for women, an unmarked product stays,
    unisex fits everyone; asking for unisex leaves out what is made for one gender only."""
    if not audiences or wanted in audiences or "unisex" in audiences:
        return True
    return wanted == "unisex" and {"men", "women"} <= audiences


def read_audience(work: str) -> tuple[str | None, str]:
    """Who a lower-cased message shops for ("women", "men", "kids", "unisex"; None when unsaid or mixed, as in "for
    men and women"), and the message with "for my wife" written as "women" (same length): the intent text keeps
    the word products use, while the plain audience words stay where they are for the category and the search."""
    found, pieces, end = set(), [], 0
    for m in AUDIENCE_RE.finditer(work):
        if AUDIENCE_NEGATION_RE.search(work[max(0, m.start() - 15):m.start()]):
            pieces += [work[end:m.start()], " " * (m.end() - m.start())]  # "not for men" must not search for men
            end = m.end()
            continue
        audience = _AUDIENCE_OF[m.group("rel") or m.group("pron") or m.group("word")]
        found.add(audience)
        if m.group("word") is None:
            pieces += [work[end:m.start()], audience.ljust(m.end() - m.start())]
            end = m.end()
    return (found.pop() if len(found) == 1 else None), "".join(pieces) + work[end:]
