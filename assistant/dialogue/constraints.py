"""Shopper constraints and how a single message states them: the hard and soft constraints a search runs under
(`Constraints`), and the rule-based reading of one message into a `ParsedMessage` (with the catalog's words from
assistant/dialogue/vocabulary.py): prices, brands, colours, sizes, ratings, stock, categories, audiences, materials,
clears and resets. Deterministic and stateless; nothing here knows about sessions. Typos and spelled-out amounts are
fixed first (assistant/dialogue/spelling.py).

assistant.dialogue.context builds on this module (never the other way round): it keeps the session, resolves references to
shown products, runs the parsing steps below around its own reference step, and applies each parsed message to the
constraints carried across turns.

Documented choices:
- A bare currency amount ("a $300 camera") is read like "around $300"; numbers followed by a unit ("5 kg", "4 stars",
  "2 pack") are never prices.
- A colour family ("blue") filters on every catalog colour of the family (Navy, Sky Blue, ...); a shade ("navy") on
  itself. A catalog that records no colours gets the colour word as a soft preference instead.
- "for women", "for my husband": an audience; products that name only another audience are left out in ranking.
- "60 pounds" is a weight (pounds is a unit), "60 quid" a price.
- "cheap"/"budget" alone is only a soft preference; "cheaper"/"pricier" are relative moves that assistant.dialogue.context
  measures against the products shown.
"""
from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable

from assistant.dialogue.spelling import numbers_to_digits
from assistant.dialogue.vocabulary import GEAR_NOUNS, WORD_RE, Vocabulary, _stem, read_audience
from catalog.schema import PRICE_SYMBOLS

if TYPE_CHECKING:
    from catalog.index import SearchFilters

# Ownership: "already has/owns/got ...", "has one already"; the product named after it (within the clause) is excluded.
OWNED_RE = re.compile(r"\b(?:already\s+(?:has|have|own|owns|got|bought|use|uses)|(?:has|have|owns?|got)\s+(?:got\s+)?"
                      r"(?:an?\s+)?(?=\S)(?=[^.,;!?]{0,60}\balready\b))")
CLAUSE_END_RE = re.compile(r"[.,;!?]|\b(?:but|and|so|though|which)\b")
WELL_REVIEWED = 4.0  # "well reviewed", "highly rated"
MAX_PRICE = 10_000_000.0  # a stated amount above this is a typo or an attack, not a budget
MIN_PRICE = 0.01  # a budget below a cent ("under $0.0000001") is zero: it would match nothing, and shows as "$0.00"

# Colour words that are also materials or products ("face cream", "terracotta planter", "olive oil"): a colour only
# with a cue such as "in cream" or "cream colour".
AMBIGUOUS_COLOURS = {"cream", "sand", "sage", "olive", "charcoal", "terracotta", "stone grey", "silver", "gold", "tan",
                     "coral", "ivory", "orange"}
# Top-level names that are ordinary words ("for home use"): a category only before a word like "gear".
WEAK_TOP_WORDS = {"home", "office", "outdoor", "sport", "beauty", "kitchen", "garden", "pet"}
AMBIGUOUS_SIZES = {"full", "regular", "standard", "one size"}  # "full refund", "regular price"
WORD_SIZES = {"extra small": "XS", "extra-small": "XS", "x-small": "XS", "small": "S", "medium": "M", "large": "L",
              "extra large": "XL", "extra-large": "XL", "x-large": "XL"}
NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}  # "four stars"; also "the first two"
# Words that carry no search meaning; dropped from a message before it joins the intent text.
FILLER = set(("a an the i i'm im i'd me my we you your it its it's that this these those one ones is are was be am "
              "do does did have has can could would should will please thanks thank ok okay so and or but also just "
              "actually really maybe some any something anything show find get give want need needs looking look "
              "for with of to in on at by from about what which how like more other else hmm hey hi yes no not "
              "again instead then now there here them they only too very still well let let's see tell come comes "
              "similar under over below above less than least most max min between bought price range cost costs "
              "spend size sizes colour color").split()) | set(
    # Words about the search itself, not the thing searched for: "any other suggestions?", "anything else for my
    # search?" name no product.
    ("suggestion suggestions suggest recommend recommendation recommendations option options alternative "
     "alternatives idea ideas choice choices search searching results result stuff others page").split())

# ---- regexes (all run on lower-cased text) -------------------------------------------------------------------------
_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
NUM_RE = re.compile(_NUM)  # the number inside a matched amount: "$1,299" -> "1,299"
THOUSANDS_RE = re.compile(r"\d\s*k")  # "2k" is 2000
# Units after a number make it a quantity, not a price: "5 kg", "4 stars", "2 pack", "30 ml", "3 days".
_UNITS = (r"(?!\s*(?:mm|cm|m|km|kg|g|lbs?|pounds?|oz|ml|l|litres?|liters?|gb|tb|mb|mp|mah|w|watts?|h|hrs?|hours?|"
          r"mins?|minutes?|months?|years?|yrs?|days?|weeks?|stars?|packs?|pairs?|pieces?|pcs|persons?|people|"
          r"inch(?:es)?|ft|feet|lm|degrees?|players?|kids?|seats?|x|th|st|nd|rd|year-olds?)(?![a-z])|\s*[%°\"'])")
# Sizes and ages are numbers too: "US 9-10", "size 8", "ages 6-8", "#2", "Summit 350" (no cue, so never read).
_GUARD = r"(?<![\w.#])(?<!us )(?<!eu )(?<!uk )(?<!size )(?<!sizes )(?<!age )(?<!ages )(?<!number )"


def _money(name: str) -> str:
    """An amount with optional currency ("$1,299", "50 dollars", "2k"), captured as `name` for _amount()."""
    return (rf"{_GUARD}(?P<{name}>(?:[$€£]\s*)?(?:{_NUM})(?![.,]?\d)(?:\s*k(?![a-z]))?"
            rf"(?:\s*(?:dollars?|bucks|quid|usd|eur(?:os?)?|gbp|€|\$)(?![a-z]))?){_UNITS}")


# Price phrasings, applied in this order so a range is not read as two single limits.
# A range, with or without "between": "between 20 and 40", "$20 to $40", "20-40".
RANGE_RE = re.compile(rf"\bbetween\s+{_money('lo')}\s*(?:and|&|-|–|to)\s*{_money('hi')}"
                      rf"|{_money('lo2')}\s*(?:-|–|to)\s*{_money('hi2')}")
# An approximate price: "around 100", "~100", "100ish", "in the $100 range".
AROUND_RE = re.compile(rf"(?:\b(?:around|about|approximately|approx\.?|roughly|close to|near|circa)\s+|~\s*)"
                       rf"{_money('v')}|{_money('v2')}\s*-?\s*ish\b|\bin the {_money('v3')}\s*range")
# An upper limit: "under $50", "max 50", "<50", "50 or less", "$200 budget".
MAX_RE = re.compile(rf"(?:\b(?:under|below|beneath|less than|cheaper than|lower than|max(?:imum)?|up to|upto|"
                    rf"no more than|not more than|at most|within|budget(?:\s+(?:is|of))?|spend(?:\s+up\s+to)?)"
                    rf"\s*:?\s*|<=?\s*|≤\s*){_money('v')}|{_money('v2')}\s*(?:or less|or under|or below|or lower|"
                    rf"and under|and below|max(?:imum)?|tops|at most|or cheaper|budget|to spend)\b")
# A lower limit: "over 20", "at least 20", "$20 or more", "20+".
MIN_RE = re.compile(rf"(?:\b(?:over|above|more than|at least|min(?:imum)?|starting (?:at|from)|greater than|from|"
                    rf"upwards of)\s+|>=?\s*|≥\s*){_money('v')}|{_money('v2')}\s*(?:or more|and up|and above|"
                    rf"or above|or higher|plus\b|\+)")
# An amount with a currency and no other cue ("a $300 camera"): read as "around".
BARE_MONEY_RE = re.compile(rf"{_GUARD}(?P<v>[$€£]\s*(?:{_NUM})(?![.,]?\d)(?:\s*k(?![a-z]))?)"
                           rf"|{_GUARD}(?P<v2>(?:{_NUM})(?![.,]?\d)\s*(?:dollars?|bucks|quid|usd|euros?|eur|gbp)\b)")
# Relative price moves; "cheap"/"budget" alone is only a soft preference.
CHEAPER_RE = re.compile(r"\b(?:cheaper|less expensive|lower[- ]priced|more affordable|less pricey|lower price)\b")
PRICIER_RE = re.compile(r"\b(?:more expensive|pricier|higher[- ]end|high[- ]end|premium|fancier|more premium|"
                        r"upscale|luxury|top of the line|better quality)\b")
CHEAP_RE = re.compile(r"\b(?:cheap|cheapest|inexpensive|affordable|budget|bargain|low[- ]cost|lowest price)\b")
RATING_RES = [  # "4 stars and up", "4+ stars", "4.5 star", "four stars"; "rated at least 4", "rating above 4"
    re.compile(r"(?<![\w.])(?P<r>\d(?:\.\d)?|one|two|three|four|five)\s*\+?\s*-?\s*stars?(?:\s*(?:and|&|or)\s*"
               r"(?:up|above|over|higher|better|more))?(?:\s*(?:minimum|min|or more|plus))?"),
    re.compile(r"\b(?:rated|rating|ratings? of|reviews? of)\s+(?:of\s+|at least\s+|above\s+|over\s+|>=?\s*)?"
               r"(?P<r>\d(?:\.\d)?)(?![\d.])(?:\s*\+|\s*/\s*5|\s*out of 5|\s*or (?:higher|more|better|above)|"
               r"\s*and (?:up|above))*"),
]
# Rating wishes without a number: "well reviewed", "highly rated" -> WELL_REVIEWED.
WELL_REVIEWED_RE = re.compile(r"\b(?:well[- ]reviewed|highly[- ]rated|top[- ]rated|best[- ]rated|well[- ]rated|"
                              r"good (?:reviews|ratings)|great reviews|positive reviews)\b")
# Availability wishes: "in stock", "available now", "ready to ship".
IN_STOCK_RE = re.compile(r"\b(?:in[- ]stock|available (?:now|today|right now)|ships? (?:now|today|immediately)|"
                         r"ready to ship)\b")
# The shopper lifting the availability filter again.
OUT_OF_STOCK_OK_RE = re.compile(r"\b(?:out[- ]of[- ]stock (?:is )?(?:ok|okay|fine)|include out[- ]of[- ]stock|"
                                r"(?:even|also) (?:if )?(?:it'?s )?(?:out[- ]of[- ]stock|sold out))\b")
# A fresh start: every constraint and the topic go.
RESET_RE = re.compile(r"\b(?:start (?:over|again|afresh)|reset|clear (?:all|everything|the filters|filters)|"
                      r"new search|from scratch|forget (?:everything|all of (?:that|it)|all that))\b")
CLEAR_RES = {  # what a shopper can drop: "forget the price", "any colour", "brand doesn't matter"
    "price": re.compile(r"\b(?:forget|drop|remove|clear|ignore|never ?mind)\s+(?:about\s+)?(?:the\s+|my\s+)?"
                        r"(?:price|budget|price limit)\b|\bany price\b|\bprice (?:doesn'?t|does not) matter\b|"
                        r"\bno budget\b|\bregardless of (?:the )?price\b|\bwhatever (?:the )?price\b"),
    "brand": re.compile(r"\b(?:forget|drop|remove|clear)\s+(?:the\s+)?brands?\b|\bany brand\b|\ball brands\b|"
                        r"\bbrand (?:doesn'?t|does not) matter\b"),
    "colour": re.compile(r"\bany colou?r\b|\bcolou?r (?:doesn'?t|does not) matter\b|\b(?:forget|drop|clear)\s+"
                         r"(?:the\s+)?colou?r\b|\bwhatever colou?r\b"),
    "size": re.compile(r"\bany size\b|\bsize (?:doesn'?t|does not) matter\b|\b(?:forget|drop|clear)\s+(?:the\s+)?"
                       r"size\b"),
    "rating": re.compile(r"\bany rating\b|\b(?:forget|drop|clear)\s+(?:the\s+)?ratings?\b"),
    "audience": re.compile(r"\bany gender\b|\bgender (?:doesn'?t|does not) matter\b|\bfor (?:anyone|everyone)\b"),
}
# Brands of shown products to leave out: singular means the one referred to, plural every brand shown.
OTHER_BRAND_RE = re.compile(r"\b(?:(?P<one>another brand|a different brand|not that brand|other than that brand|"
                            r"different brand)|(?P<all>other brands|different brands))\b")
# Words before a brand that negate it: "not Nike", "anything but", "nothing from", "don't want".
BRAND_NEGATION_RE = re.compile(r"(?:\bnot|\bno|\bexcept|\bexcluding|\bexclude|\bwithout|\banything but|\bother than|"
                               r"\bbut not|\bavoid|\bskip|\bdon'?t (?:want|like|show(?: me)?)|\bno more|\bnothing|"
                               r"\bhate|\bnon)\s*-?\s*(?:(?:any|the|from|by|of|a|an|more)\s+)*$")
BRAND_CHAIN_RE = re.compile(r"^\s*(?:,|/|or|nor|and|,\s*or|,\s*and)\s*$")  # "not Northpeak or Ridgeway"
# "not Nike" for a brand the catalog lacks: a capitalised word after a negation, excluded (it filters nothing).
UNKNOWN_BRAND_RE = re.compile(r"(?i:\b(?:not|no|except|excluding|without|anything but|other than|nothing (?:from|by))"
                              r"\s+(?:from\s+|by\s+)?)(?P<b>[A-Z][\w'-]+)"
                              r"(?:\s*(?i:,|or|nor|and)\s*(?P<b2>[A-Z][\w'-]+))?")
# "not red", "anything but black": a colour to avoid (soft), not one to filter on.
COLOUR_NEGATION_RE = re.compile(r"(?:\bnot|\bno|\bexcept|\bwithout|\banything but|\bnothing)\s+(?:in\s+)?$")
COLOUR_CUE_RE = re.compile(r"^\s*(?:colou?r(?:ed)?|one|ones|version|shade)\b")  # "cream colour", "sand one"
IN_BEFORE_RE = re.compile(r"\bin\s+$")  # "in cream": the cue before an ambiguous colour
THE_BEFORE_RE = re.compile(r"\bthe\s+$")  # "the Northpeak one" is a reference, not a brand filter ...
ONE_AFTER_RE = re.compile(r"\s{1,20}(?:one|ones|model|version)\b")  # ... when "one" follows the brand
SIZE_AFTER_RE = re.compile(r"[\s-]{0,20}size\b")  # "full size": the cue an ambiguous size word needs ...
SIZE_BEFORE_RE = re.compile(r"\bsize\s*$")  # ... or "size full"
SIZE_SYSTEM_RE = re.compile(r"\b(?P<sys>us|eu|uk)\s*(?P<n>\d{1,2}(?:\.5)?)\b")  # "US 9", "eu42"
SIZE_NUMBER_RE = re.compile(r"\bsize\s*:?\s*(?P<n>\d{1,2}(?:\.5)?)\b(?!\s*(?:ml|l)\b)")  # "size 9" -> "US 9"
VOLUME_RE = re.compile(r"(?<![\w.])(?P<n>\d+(?:\.\d+)?)\s*(?P<u>ml|l|litres?|liters?)\b")  # "30ml", "1 litre"
_LETTERS = r"xxs|xs|s|m|l|xl|xxl|xxxl|extra[- ]small|x-small|extra[- ]large|x-large|small|medium|large"
# A bare "M" is a size only after a cue: "size M", "in M", "in a medium", "M size"; not "I'm" or "L-shaped".
LETTER_SIZE_RES = [re.compile(rf"\b(?:size|sz)(?:\s*:\s*|\s+)(?P<s>{_LETTERS})\b(?![-'])"),  # not "sizes" as "size S"
                   re.compile(rf"\bin\s+(?:an?\s+|size\s+)?(?P<s>{_LETTERS})\b(?![-'])"),
                   re.compile(rf"\b(?:an?\s+)?(?P<s>{_LETTERS})\s+size\b"),
                   re.compile(r"(?<![\w-])(?P<s>xxs|xs|xl|xxl|xxxl)\b(?![-'])")]
# "a medium dog bed": a size word without a cue, used only where the category has sizes.
BARE_WORD_SIZE_RE = re.compile(r"\b(?P<s>extra[- ]small|x-small|extra[- ]large|x-large|small|medium|large)\b(?!-)")
FREE_AFTER_RE = re.compile(r"[\s-]?free\b")  # "latex free": the material is what the shopper avoids ...
NON_BEFORE_RE = re.compile(r"\b(?:non|no|without)[\s-]?$")  # ... and "non-latex", "no plastic"
CONTENT_WORD_RE = re.compile(r"[a-z0-9][a-z0-9'&-]*")  # words kept for the intent text


@dataclass
class Constraints:
    """Hard constraints (become a Chroma `where`) and soft preferences (ranking features)."""

    min_price: float | None = None
    max_price: float | None = None
    brands: list[str] = field(default_factory=list)
    exclude_brands: list[str] = field(default_factory=list)
    category: str | None = None
    colour: str | None = None  # as the shopper said it ("Blue")
    colours: list[str] = field(default_factory=list)  # the catalog colours it stands for (Blue, Navy, Sky Blue)
    size: str | None = None
    audience: str | None = None  # "women", "men", "kids", "unisex": leaves out products made for another
    min_rating: float | None = None
    in_stock_only: bool = False
    exclude_categories: list[str] = field(default_factory=list)  # "he already has a coffee maker": none of these
    currency: str = "USD"  # the catalog's, for describe(): a pound shop's budget reads "under £50"
    # "price_target": 100.0, "prefer_cheaper"/"prefer_pricier": 1.0, "avoid_colour": "red", a feature word: 1.0
    soft: dict[str, float | str] = field(default_factory=dict)

    def copy(self) -> Constraints:
        return copy.deepcopy(self)

    def to_filters(self, exclude_ids: Iterable[str] = ()) -> SearchFilters:
        from catalog.index import SearchFilters  # lazy: catalog.index pulls in chromadb

        return SearchFilters(min_price=self.min_price, max_price=self.max_price, brands=list(self.brands),
                             exclude_brands=list(self.exclude_brands), category=self.category,
                             colour=None if self.colours else self.colour, colours=list(self.colours), size=self.size,
                             min_rating=self.min_rating, in_stock_only=self.in_stock_only,
                             exclude_ids=list(exclude_ids))

    def describe(self, soft: bool = True) -> str:
        """A short phrase for replies and reasons: "jackets, for women, under $100, not Northpeak, blue, waterproof".
        soft=False leaves out what a product may lack while still shown (feature words, the audience): the hard part
        every matching product satisfies."""
        parts = [self.category.lower()] if self.category else []
        if self.audience and soft:
            parts.append("unisex" if self.audience == "unisex" else f"for {self.audience}")
        target = self.soft.get("price_target")
        if isinstance(target, float):
            parts.append(f"around {_dollars(target, self.currency)}")
        elif self.min_price is not None and self.max_price is not None:
            parts.append(f"{_dollars(self.min_price, self.currency)}–{_dollars(self.max_price, self.currency)}")
        elif self.max_price is not None:
            parts.append(f"under {_dollars(self.max_price, self.currency)}")
        elif self.min_price is not None:
            parts.append(f"over {_dollars(self.min_price, self.currency)}")
        if self.brands:
            parts.append("from " + " or ".join(self.brands))
        parts += [f"not {b}" for b in self.exclude_brands]
        parts += [f"no {c.lower()}" for c in self.exclude_categories]
        if self.colour:
            parts.append(self.colour.lower())
        avoid = self.soft.get("avoid_colour")
        if isinstance(avoid, str):
            parts.append(f"not {avoid.lower()}")
        if self.size:
            parts.append(f"size {self.size}")
        if self.min_rating is not None:
            parts.append(f"rated {self.min_rating:g}+")
        if self.in_stock_only:
            parts.append("in stock")
        if soft:
            parts += [k for k, v in self.soft.items() if v == 1.0 and not k.startswith("prefer_") and k != "price_target"]
        return ", ".join(parts)


def _dollars(value: float, currency: str = "USD") -> str:
    amount = f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"
    symbol = PRICE_SYMBOLS.get(currency.upper())
    return f"{symbol}{amount}" if symbol else f"{amount} {currency.upper()}"


# ---- parsing one message -------------------------------------------------------------------------------------------
# Each step reads the lower-cased message and blanks out what it used (keeping positions), so that later steps do
# not read the same words again: "at least 4 stars" is a rating and then no longer a price of $4.

@dataclass
class ParsedMessage:
    """What one message says about constraints. assistant.dialogue.context extends it with the references it reads."""

    reset: bool = False
    clear: set[str] = field(default_factory=set)  # "price", "brand", "colour", "size", "rating"
    prices: list[tuple[int, str, float, float]] = field(default_factory=list)  # (position, op, a, b)
    relative: str | None = None  # "cheaper" or "pricier"
    soft: dict[str, float | str] = field(default_factory=dict)
    brands: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    invalid_prices: list[str] = field(default_factory=list)  # amounts ignored: zero, absurd ("around $0")
    other_brands: str | None = None  # "one" or "all"
    ref_brand: str | None = None  # "the Northpeak one"
    colour: str | None = None
    colours: list[str] = field(default_factory=list)  # the catalog colours of a family named ("blue")
    size: str | None = None
    audience: str | None = None
    min_rating: float | None = None
    in_stock: bool | None = None
    category: str | None = None
    owned: list[str] = field(default_factory=list)  # categories the shopper (or recipient) already has
    content: str = ""  # the words left for the intent text

    def product_signal(self) -> bool:
        return bool(self.category or self.brands or self.exclude or self.prices or self.relative or self.colour
                    or self.size or self.ref_brand or self.min_rating or self.other_brands)


def blank(text: str, start: int, end: int) -> str:
    return text[:start] + " " * (end - start) + text[end:]


def take(pattern: re.Pattern[str], work: str) -> tuple[list[re.Match[str]], str]:
    """Every match of the pattern, and the text with those matches blanked out."""
    matches = list(pattern.finditer(work))
    if not matches:
        return matches, work
    pieces, end = [], 0
    for m in matches:
        pieces += [work[end:m.start()], " " * (m.end() - m.start())]
        end = m.end()
    return matches, "".join(pieces) + work[end:]


def _amount(raw: str) -> float:
    """"$1,299" -> 1299.0, "2k" -> 2000.0, "50 dollars" -> 50.0."""
    value = float(NUM_RE.search(raw).group(0).replace(",", ""))
    return value * 1000 if THOUSANDS_RE.search(raw) else value


def _group(m: re.Match[str], *names: str) -> str:
    return next(m.group(n) for n in names if m.group(n))


def parse_clears_and_stock(p: ParsedMessage, work: str) -> str:
    """A fresh start, constraints dropped ("any colour") and stock wishes: the steps before references."""
    matches, work = take(RESET_RE, work)
    p.reset = bool(matches)
    for name, pattern in CLEAR_RES.items():
        matches, work = take(pattern, work)
        if matches:
            p.clear.add(name)
    for pattern, value in ((OUT_OF_STOCK_OK_RE, False), (IN_STOCK_RE, True)):
        matches, work = take(pattern, work)
        if matches and p.in_stock is None:
            p.in_stock = value
    return work


def parse_constraints(p: ParsedMessage, work: str, text: str, vocab: Vocabulary, topic: str | None) -> None:
    """The steps after references: typos and spelled-out amounts fixed, then the audience, ratings, sizes, prices,
    brands, colours, the category, features, materials and price moves.
    `work` is the message with earlier steps' words blanked out, `text` the message as written, `topic` the session's
    current category (it decides whether "a medium dog bed" names a size)."""
    work, text = vocab.speller.correct(work, text)
    work, text = numbers_to_digits(work, text)
    p.audience, work = read_audience(work)
    for pattern in RATING_RES:
        matches, work = take(pattern, work)
        for m in matches:
            value = float(NUMBER_WORDS.get(m.group("r")) or m.group("r"))
            p.min_rating = value if 0 < value <= 5 else p.min_rating
    matches, work = take(WELL_REVIEWED_RE, work)
    if matches and p.min_rating is None:
        p.min_rating = WELL_REVIEWED
    work = _parse_sizes(p, work, vocab)
    work = _parse_prices(p, work)
    work = _parse_brands(p, work, text, vocab)
    work = _parse_colours(p, work, vocab)
    work = _parse_owned(p, work, vocab)
    p.category = _find_category(work, vocab)
    m = BARE_WORD_SIZE_RE.search(work)  # "a medium dog bed": only where the category comes in that size
    if m and p.size is None:
        letter = WORD_SIZES[m.group("s")]
        if letter in vocab.category_sizes.get((p.category or topic or "").lower(), set()):
            p.size, work = letter, blank(work, *m.span())
    for m in vocab.feature_re.finditer(work):  # in the catalog's spelling: "powder free" -> "powder-free"
        p.soft[vocab.features[int(m.lastgroup[1:])]] = 1.0
    for m in vocab.material_re.finditer(work):  # "leather", "stainless steel"; not "latex-free" or "non-latex"
        if not (FREE_AFTER_RE.match(work, m.end()) or NON_BEFORE_RE.search(work[max(0, m.start() - 8):m.start()])):
            p.soft[vocab.materials[int(m.lastgroup[1:])].lower()] = 1.0
    for pattern, key in ((CHEAPER_RE, "cheaper"), (PRICIER_RE, "pricier")):
        matches, work = take(pattern, work)
        p.relative = key if matches else p.relative
    matches, work = take(CHEAP_RE, work)
    if matches:
        p.soft["prefer_cheaper"] = 1.0
    p.content = " ".join(w for w in CONTENT_WORD_RE.findall(work) if w not in FILLER and not w.isdigit())


def _parse_owned(p: ParsedMessage, work: str, vocab: Vocabulary) -> str:
    """"he already has a coffee maker", "I own a tent already": that kind of product is not wanted; its words are
    blanked (up to the end of the clause) so they neither become the topic nor the search text."""
    for m in OWNED_RE.finditer(work):
        end = CLAUSE_END_RE.search(work, m.end())
        stop = end.start() if end else len(work)
        category = _find_category(work[m.start():stop], vocab)
        if category:
            p.owned.append(category)
            work = blank(work, m.start(), stop)
    return work


def _parse_sizes(p: ParsedMessage, work: str, vocab: Vocabulary) -> str:
    matches, work = take(SIZE_SYSTEM_RE, work)
    for m in matches:
        p.size = vocab.size(m.group(0)) or f"{m.group('sys').upper()} {m.group('n')}"
    matches, work = take(SIZE_NUMBER_RE, work)
    for m in matches:  # "size 9" -> the catalog's "US 9"
        p.size = next((s for s in vocab.sizes if s.split()[-1] == m.group("n") and len(s.split()) == 2), m.group("n"))
    for m in VOLUME_RE.finditer(work):
        size = vocab.size(f"{m.group('n')} {'ml' if m.group('u') == 'ml' else 'l'}")
        if size:
            p.size, work = size, blank(work, *m.span())
    for m in vocab.size_word_re.finditer(work):  # "Queen", "Twin"; "full" only as "full size" or "size full"
        cue = SIZE_AFTER_RE.match(work[m.end():]) or SIZE_BEFORE_RE.search(work[max(0, m.start() - 10):m.start()])
        if m.group(0) not in AMBIGUOUS_SIZES or cue:
            p.size, work = vocab.size(m.group(0)), blank(work, *m.span())
    for pattern in LETTER_SIZE_RES:
        matches, work = take(pattern, work)
        for m in matches:
            letter = WORD_SIZES.get(m.group("s"), m.group("s").upper())
            p.size = vocab.size(letter) or letter
    return work


def _valid_price(op: str, a: float, b: float) -> bool:
    """A limit the search can use: finite, at most MAX_PRICE, and above zero where zero means nothing ("around
    $0" would divide by zero in ranking, "under $0" matches nothing); a lower bound of 0 is just no bound."""
    if not all(math.isfinite(x) and 0 <= x <= MAX_PRICE for x in (a, b)):
        return False
    return {"range": b >= MIN_PRICE, "min": True}.get(op, a >= MIN_PRICE)


def _parse_prices(p: ParsedMessage, work: str) -> str:
    found = []
    matches, work = take(RANGE_RE, work)
    for m in matches:
        lo, hi = _amount(_group(m, "lo", "lo2")), _amount(_group(m, "hi", "hi2"))
        found.append((m.start(), "range", min(lo, hi), max(lo, hi), m.group(0).strip()))
    for pattern, op in ((AROUND_RE, "around"), (MAX_RE, "max"), (MIN_RE, "min"), (BARE_MONEY_RE, "around")):
        matches, work = take(pattern, work)
        found += [(m.start(), op, _amount(_group(m, "v", "v2", "v3")), 0.0, m.group(0).strip()) for m in matches]
    for at, op, a, b, said in sorted(found):
        if _valid_price(op, a, b):
            p.prices.append((at, op, a, b))
        else:
            p.invalid_prices.append(said)
    return work


def _parse_brands(p: ParsedMessage, work: str, text: str, vocab: Vocabulary) -> str:
    """Included brands, excluded ones ("not Northpeak or Ridgeway", "not Nike"), and "the Northpeak one"."""
    negated, prev_end = False, 0
    for m in vocab.brand_re.finditer(work):
        brand = vocab.brands[int(m.lastgroup[1:])]
        window = max(0, m.start() - 40)  # negations sit just before the brand; a window keeps long input fast
        the = THE_BEFORE_RE.search(work[window:m.start()])
        neg = BRAND_NEGATION_RE.search(work[window:m.start()])
        chained = negated and BRAND_CHAIN_RE.match(work[prev_end:m.start()])
        if the and ONE_AFTER_RE.match(work[m.end():]):
            p.ref_brand, negated = brand, False
            work = blank(work, window + the.start(), m.end())
        elif neg or chained:
            p.exclude.append(brand)
            negated, work = True, blank(work, window + neg.start() if neg else m.start(), m.end())
        else:
            p.brands.append(brand)
            negated = False
            work = blank(work, m.start(), m.end())  # "Anderson Metals" is a brand, not the Metals category
        prev_end = m.end()
    known = set(vocab.category_index) | {(w,) for w in FILLER | set(vocab.features)}
    for m in UNKNOWN_BRAND_RE.finditer(text if len(text) == len(work) else ""):  # positions must line up
        for g in ("b", "b2"):
            word = (m.group(g) or "").lower()
            unread = work[m.start(g):m.end(g)] == word  # not already taken as a known brand, a colour, ...
            if len(word) > 1 and unread and not vocab.colour_re.fullmatch(word) and (_stem(word),) not in known:
                p.exclude.append(m.group(g))
                work = blank(work, m.start(), m.end(g))
    matches, work = take(OTHER_BRAND_RE, work)
    if matches:
        p.other_brands = "one" if matches[0].group("one") else "all"
    return work


def _parse_colours(p: ParsedMessage, work: str, vocab: Vocabulary) -> str:
    """The last colour named wins; "not red" becomes a soft avoidance; "cream" needs a cue ("in cream")."""
    for m in vocab.colour_re.finditer(work):
        before, after = work[max(0, m.start() - 30):m.start()], work[m.end():m.end() + 20]
        cue = IN_BEFORE_RE.search(before) or COLOUR_CUE_RE.match(after)
        if m.group(0).strip(" -.") in AMBIGUOUS_COLOURS and not cue:
            continue
        if COLOUR_NEGATION_RE.search(before):
            p.soft["avoid_colour"] = vocab.colour_of(m)
            work = blank(work, *m.span())
        elif vocab.attribute_colours:
            p.colour, p.colours = vocab.colour_of(m), vocab.colour_family(vocab.colour_of(m))
        else:  # the catalog records no colours: a filter would match nothing, the word in a title still tells
            p.soft[vocab.colour_of(m).lower()] = 1.0
    return work


def _find_category(work: str, vocab: Vocabulary) -> str | None:
    """The most specific category named: the last leaf mentioned ("laptop backpack" -> Backpacks), else the last
    other level, ignoring top-level names used as ordinary words ("for home use")."""
    words = [_stem(w) for w in WORD_RE.findall(work)]
    leaves, others = [], []
    i = 0
    while i < len(words):
        for n in (3, 2, 1):
            name = vocab.category_index.get(tuple(words[i:i + n])) if i + n <= len(words) else None
            if name:
                weak = n == 1 and words[i] in WEAK_TOP_WORDS and (i + 1 >= len(words) or words[i + 1] not in GEAR_NOUNS)
                if name in vocab.leaves:
                    leaves.append(name)
                elif not weak:
                    others.append(name)
                i += n
                break
        else:
            i += 1
    return (leaves or others or [None])[-1]

