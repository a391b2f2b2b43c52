"""Check a generated reply against the facts it was given (the pipeline verifies every sentence before the shopper
sees it and swaps in the template reply when one fails).

    verdict = verify(reply, facts, known_brands)      # Verdict(ok, problems)

The checks are lexical and deliberately strict: a false alarm costs a plainer (template) reply, a miss can cost a
wrong price or an invented policy in front of a customer.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

from assistant.reply.claims import check_claims
from assistant.reply.facts import ProductFact, ReplyFacts
from assistant.reply.prompt import SYSTEM_PROMPT

PRICE_TOLERANCE = 0.01
LEAK_NGRAM = 7  # this many consecutive system-prompt words in a reply count as leaking it


@dataclass
class Verdict:
    ok: bool
    problems: list[str] = field(default_factory=list)


# -----------------------------------------------------------------------------
# patterns

_NUM = r"\d[\d,]*(?:\.\d+)?"
# The look-behinds let a number start only where its run of digits starts: from every digit of a long run the
# scan would otherwise run to its end again (quadratic; the verifier reads a model's output, any length).
_MONEY = re.compile(
    rf"(?P<sym>[$€£])\s?(?P<a>{_NUM})"
    rf"|(?<![\d,.])(?P<b>{_NUM})\s?(?:USD|EUR|GBP|dollars?|bucks|euros?)\b"
    rf"|\b(?:USD|EUR|GBP)\s?(?P<c>{_NUM})", re.I)
_ANY_NUMBER = re.compile(_NUM)
_PERCENT = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s?(?:%|percent\b|per cent\b)", re.I)
_DISCOUNT_WORDS = re.compile(
    r"\b(discount(?:s|ed)?|coupons?|vouchers?|promo(?:tion)?s?|promo codes?|on sale|sale price|sales?\b|clearance|"
    r"free gifts?|gift with purchase|bogo|buy one,? get one|special offers?|deals?|price drop|markdowns?|"
    r"reduced price|cash ?back|(?:%|percent|\d+) off)\b", re.I)
_FREE_SERVICE = re.compile(r"\bfree (?:standard |express )?(?:shipping|delivery|returns?|return shipping|exchanges?|"
                           r"replacements?|return labels?)\b", re.I)
_DURATION = re.compile(
    r"(?<![\d.])(\d+(?:\.\d+)?)(?:\s*(?:-|–|to)\s*(\d+(?:\.\d+)?))?[\s-]{0,5}(?:business |working |calendar )?"
    r"(days?|weeks?|months?|years?|hours?|minutes?|h|hrs?|mins?)\b", re.I)
_UNIT = {"h": "hour", "hr": "hour", "hrs": "hour", "min": "minute", "mins": "minute"}
_RATING = re.compile(r"(\d(?:\.\d+)?)\s?(?:★|stars?\b|/\s?5\b|out of 5\b)|\brated (\d(?:\.\d+)?)\b", re.I)
_REVIEWS = re.compile(r"(?<![\d,])(\d[\d,]*)\s+(?:customer |user )?reviews?\b", re.I)
_IN_STOCK = re.compile(r"\b(?:in stock|in-stock|available now|currently available|ready to ship|"
                       r"(?:is|are) (?:still )?available\b(?! in\b| for\b| to\b| on\b| with\b| from\b| as\b| at\b))",
                       re.I)
_OUT_OF_STOCK = re.compile(r"\b(?:out of stock|out-of-stock|sold out|unavailable|not (?:currently )?available|"
                           r"not in stock|back-?ordered|on back-?order)\b", re.I)
_ONLY_LEFT = re.compile(r"\bonly (\d+) (?:left|remaining|in stock)|\b(\d+) (?:left|remaining)\b|\blast (\d+)\b",
                        re.I)
_SCARCITY = re.compile(r"\b(?:only a few left|few left|selling fast|limited stock|low stock|almost gone|"
                       r"while stocks? lasts?|running out)\b", re.I)
_FAST_DELIVERY = re.compile(r"\b(?:ships? today|same[- ]day|arrives? tomorrow|delivered tomorrow|overnight|"
                            r"next[- ]day)\b", re.I)
_LEAK_PHRASES = re.compile(
    r"\b(?:my|the) (?:system )?(?:prompt|instructions)\b|\bsystem prompt\b|\bi (?:was|am|have been) "
    r"(?:told|instructed|programmed)\b|\bmy (?:rules|guidelines|directives)\b|\binstructions (?:say|are|tell)\b", re.I)
_FACTS_WORD = re.compile(r"\bFACTS\b|\bEND FACTS\b")
_SENTENCES = re.compile(r"[^.!?\n]+(?:[.!?]+|$)")
_WORDS = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")

# Capitalised words that start sentences or label things without naming a product.
_NAME_STOPWORDS = {
    "the", "this", "that", "these", "those", "a", "an", "our", "your", "my", "i", "we", "you", "it", "its", "it's",
    "here", "there", "hi", "hello", "yes", "no", "sure", "both", "all", "each", "option", "options", "product",
    "products", "item", "items", "number", "and", "or", "but", "if", "for", "with", "also", "only", "in", "on", "at",
    "as", "of", "to", "from", "within", "after", "before", "please", "note", "price", "rating", "brand", "choice",
    "pick", "alternative", "alternatives", "great", "best", "top", "by", "&", "s", "is", "are", "nothing",
}
_PUNCT_END = ".,;:!?)]}\"'”’»"
_PUNCT_START = "([{\"'“‘«"


# -----------------------------------------------------------------------------
# helpers

def _amount(text: str) -> float | None:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def _money_amounts(text: str) -> list[tuple[str, float]]:
    found = []
    for m in _MONEY.finditer(text):
        raw = m.group("a") or m.group("b") or m.group("c")
        value = _amount(raw)
        if value is not None:
            found.append((m.group(0).strip(), value))
    return found


def _durations(text: str) -> set[tuple[float, str]]:
    pairs = set()
    for m in _DURATION.finditer(text):
        unit = m.group(3).lower()
        unit = _UNIT.get(unit, unit.rstrip("s"))
        for raw in (m.group(1), m.group(2)):
            if raw:
                pairs.add((float(raw), unit))
    return pairs


def _tokens(text: str) -> set[str]:
    return {t[:-2] if t.endswith("'s") else t for t in _WORDS.findall(text.lower().replace("’", "'"))}


def _product_tokens(p: ProductFact) -> set[str]:
    return _tokens(p.all_text())


def _has_digit(token: str) -> bool:
    return any(ch.isdigit() for ch in token)


def _name_runs(text: str) -> list[list[str]]:
    """Maximal runs of capitalised words and model numbers ("Northpeak Summit 350 Jacket"); punctuation breaks a
    run, and prices, ratings and lowercase words are never part of one."""
    runs: list[list[str]] = []
    current: list[str] = []
    for raw in text.split():
        core = raw.strip(_PUNCT_END + _PUNCT_START)
        breaks_before = raw[0] in _PUNCT_START
        breaks_after = raw[-1] in _PUNCT_END
        is_name = bool(core) and not any(c in core for c in "$€£★%") and "." not in core and (
            core[0].isupper() or core.isdigit() or (core[0].isdigit() and core.isalnum()) or core == "&")
        if breaks_before or not is_name:
            if current:
                runs.append(current)
            current = []
        if is_name:
            current.append(core)
        if breaks_after and current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    cleaned = []
    for run in runs:
        while run and run[0].lower().replace("’", "'") in _NAME_STOPWORDS:
            run = run[1:]
        while run and run[-1].lower() in _NAME_STOPWORDS:
            run = run[:-1]
        if run:
            cleaned.append(run)
    return cleaned


def _mentioned_products(sentence: str, facts: ReplyFacts) -> list[ProductFact]:
    """The shown products a sentence names: at least two words of a product's name that set it apart from the other
    products shown, or one of its model numbers."""
    words = _tokens(sentence)
    names = [_tokens(p.name) - _NAME_STOPWORDS for p in facts.products]
    shared = set.intersection(*names) if len(names) > 1 else set()
    found = []
    for p, name in zip(facts.products, names):
        hits = (words & name) - shared
        if len(hits) >= 2 or any(_has_digit(t) for t in hits):
            found.append(p)
    return found


# -----------------------------------------------------------------------------
# checks

def _check_prices(reply: str, facts: ReplyFacts) -> list[str]:
    allowed = [p.price for p in facts.products if p.price is not None]
    allowed += [v for v in (_amount(n) for n in _ANY_NUMBER.findall(facts.constraints_text)) if v is not None]
    for text in [facts.policy_text()] + facts.notices:
        allowed += [v for _, v in _money_amounts(text)]
    problems = []
    for shown, value in _money_amounts(reply):
        if not any(abs(value - a) <= PRICE_TOLERANCE for a in allowed):
            problems.append(f"price {shown} is not in the facts")
    return problems


def _check_offers(reply: str, facts: ReplyFacts) -> list[str]:
    source = facts.all_text().lower()
    source_percents = {float(m.group(1)) for m in _PERCENT.finditer(source)}
    problems = [f"percentage {m.group(0)} is not in the facts" for m in _PERCENT.finditer(reply)
                if float(m.group(1)) not in source_percents]
    for m in _DISCOUNT_WORDS.finditer(reply):
        word = m.group(0).lower()
        if not re.search(rf"\b{re.escape(word)}\b", source):
            problems.append(f"offer claim {m.group(0)!r} is not in the facts")
    if _FREE_SERVICE.search(reply) and "free" not in facts.policy_text().lower():
        problems.append(f"claim {_FREE_SERVICE.search(reply).group(0)!r} is not in the policies")
    return problems


def _check_brands(reply: str, facts: ReplyFacts, known_brands: Sequence[str]) -> list[str]:
    source = facts.all_text().lower()
    shown = {b.lower() for b in facts.brands}
    problems = []
    for brand in sorted(set(known_brands), key=len, reverse=True):
        pattern = rf"(?<![A-Za-z]){re.escape(brand)}(?![A-Za-z])"
        if brand.lower() in shown or not re.search(pattern, reply, re.I):
            continue
        if re.search(pattern, source, re.I):  # "not Northpeak" in the constraints, a brand named in a reason
            continue
        problems.append(f"brand {brand!r} is not among the products shown")
    return problems


def _check_names(reply: str, facts: ReplyFacts, known_brands: Sequence[str]) -> list[str]:
    brand_words = {t for b in known_brands for t in _tokens(b)}
    product_sets = [_product_tokens(p) for p in facts.products]
    policy_words = _tokens(facts.policy_text() + " " + facts.constraints_text + " " + " ".join(facts.notices))
    vocabulary = _tokens(facts.all_text())
    problems = []
    for run in _name_runs(reply):
        words = [t for t in (_tokens(w) for w in run) for t in t]
        words = [w for w in words if w not in _NAME_STOPWORDS]
        digits = [w for w in words if _has_digit(w)]
        plain = [w for w in words if not _has_digit(w)]
        product_like = len(run) >= 2 and (digits or len(run) >= 3 or any(w in brand_words for w in words))
        if words and not product_like and len(run) >= 2 and sum(w in vocabulary for w in words) < len(words) / 2:
            # "Santa Cruz", "Black Friday": a proper name the facts never mention is an invented claim.
            problems.append(f"name {' '.join(run)!r} is not in the facts")
            continue
        if not words or not product_like:
            continue
        matched = False
        for tokens in product_sets:
            overlap = sum(w in tokens for w in plain) / len(plain) if plain else 1.0
            if all(d in tokens for d in digits) and overlap >= 0.6:
                matched = True
                break
        if not matched and all(w in policy_words for w in words):
            matched = True
        if not matched and not digits and all(w in vocabulary for w in words):
            matched = True
        if not matched:
            problems.append(f"product name {' '.join(run)!r} matches no product shown")
    return problems


def _check_stock(reply: str, facts: ReplyFacts) -> list[str]:
    problems = []
    policy = facts.policy_text().lower()
    for sentence in _SENTENCES.findall(reply):
        if " ".join(sentence.split()).lower().strip(" .!?") in " ".join(policy.split()):
            continue  # quoting a policy sentence ("in stock on a major US retailer's own website") is grounded
        named = _mentioned_products(sentence, facts)
        targets = named or (facts.products if len(facts.products) == 1 else [])
        negative = _OUT_OF_STOCK.findall(sentence)
        positive = _IN_STOCK.findall(_OUT_OF_STOCK.sub(" ", sentence))
        if not targets:  # about no product in particular: wording the policies use ("support is available") is fine
            negative = [w for w in negative if w.lower() not in policy]
            positive = [w for w in positive if w.lower() not in policy]
        if negative:
            bad = [p for p in targets if p.in_stock] if targets else (
                facts.products if facts.products and all(p.in_stock for p in facts.products) else [])
            if bad or not facts.products:
                problems.append(f"'{negative[0]}' contradicts the facts ({', '.join(p.name for p in bad) or 'none shown'})")
        if positive:
            bad = [p for p in targets if not p.in_stock] if targets else (
                facts.products if facts.products and not any(p.in_stock for p in facts.products) else [])
            if bad or not facts.products:
                problems.append(f"'{positive[0]}' contradicts the facts ({', '.join(p.name for p in bad) or 'none shown'})")
        for m in _ONLY_LEFT.finditer(sentence):
            n = int(next(g for g in m.groups() if g))
            pool = targets or facts.products
            if not any(p.stock == n for p in pool):
                problems.append(f"stock claim {m.group(0)!r} is not in the facts")
        if _SCARCITY.search(sentence):
            pool = targets or facts.products
            if not any(p.stock is not None and p.stock <= 10 for p in pool):
                problems.append(f"scarcity claim {_SCARCITY.search(sentence).group(0)!r} is not in the facts")
        fast = _FAST_DELIVERY.search(sentence)
        if fast and fast.group(0).lower().replace(" ", "-") not in policy.replace("same day", "same-day").replace(
                "next day", "next-day"):
            problems.append(f"delivery claim {fast.group(0)!r} is not in the policies")
    return problems


def _check_policy_numbers(reply: str, facts: ReplyFacts) -> list[str]:
    allowed = _durations(facts.all_text())
    return [f"'{n:g} {unit}' is not in the policies or facts" for n, unit in sorted(_durations(reply))
            if (n, unit) not in allowed]


_FILLER = set("this that with your from have will they them their there what when which would could should about "
              "also just like into than then only very more most some such each other been were does here sure "
              "please help happy glad order orders item items".split())
POLICY_SUPPORT = 0.6  # share of an after-sales reply's content words that must come from the policy snippets


def _stems(text: str) -> set[str]:
    """Crude stems of a source text's words: "returned" is supported by "return"."""
    return {w[:5] for w in _WORDS.findall(text.lower())}


def _support(text: str, stems: set[str], ignore: set[str], least: int) -> float | None:
    """The share of the text's content words (four letters or more, not in `ignore`) whose stem is in `stems`;
    None when it has fewer than `least` of them (too little to judge)."""
    words = [w for w in _WORDS.findall(text.lower()) if len(w) >= 4 and w not in ignore]
    return sum(w[:5] in stems for w in words) / len(words) if len(words) >= least else None


def _check_policy_support(reply: str, facts: ReplyFacts) -> list[str]:
    """An after-sales answer has to be made of the policy's words: a fluent paraphrase that drifts away from the
    snippet (a small model's usual failure) has no numbers for the other checks to catch."""
    if facts.kind != "service" or not facts.policy_snippets:
        return []
    supported = _support(reply, _stems(facts.policy_text()), _FILLER, least=4)
    if supported is not None and supported < POLICY_SUPPORT:
        return [f"only {supported:.0%} of the after-sales reply's words come from the policy text"]
    return []


WORD_SUPPORT = 0.5  # share of a sentence's content words that must appear in the facts (see _check_word_support)
_GENERIC = _FILLER | set("note sorry provide information additional details available options option product products "
                         "find shop shop's store cart basket question questions assist anything else need welcome "
                         "thank thanks know great good nice".split())  # the assistant's own words, not claims


def _check_word_support(reply: str, facts: ReplyFacts) -> list[str]:
    """Each sentence has to be made mostly of the facts' words: what a small model invents about a product ("a
    built-in shoe cover", "designed with safety in mind") has no number or name for the other checks to catch.
    Questions and sentences with fewer than three content words ("Here you go.") are not judged, nor replies to small
    talk, out-of-scope and cart messages: only the template answers those (assistant/pipeline.py TEMPLATE_ONLY)."""
    if facts.kind in ("smalltalk", "out_of_scope", "cart"):
        return []
    stems = _stems(" ".join([facts.all_text(), *facts.display_names()]))
    problems = []
    for sentence in _SENTENCES.findall(reply):
        if sentence.rstrip().endswith("?"):  # a question to the shopper claims nothing
            continue
        supported = _support(sentence, stems, _GENERIC, least=3)
        if supported is not None and supported < WORD_SUPPORT:
            problems.append(f"sentence {sentence.strip()[:60]!r} is mostly words the facts do not use")
    return problems


def _check_ratings(reply: str, facts: ReplyFacts) -> list[str]:
    ratings = [p.rating for p in facts.products if p.rating is not None]
    counts = {p.review_count for p in facts.products}
    problems = []
    for m in _RATING.finditer(reply):
        value = float(m.group(1) or m.group(2))
        if not any(abs(value - r) <= 0.05 for r in ratings):
            problems.append(f"rating {m.group(0).strip()!r} is not in the facts")
    for m in _REVIEWS.finditer(reply):
        value = _amount(m.group(1))
        if value is not None and int(value) not in counts:
            problems.append(f"review count {m.group(0)!r} is not in the facts")
    return problems


def _check_leak(reply: str) -> list[str]:
    problems = []
    phrase = _LEAK_PHRASES.search(reply)
    if phrase:
        problems.append(f"talks about its instructions ({phrase.group(0)!r})")
    if _FACTS_WORD.search(reply):
        problems.append("mentions the FACTS block")
    prompt_words = _WORDS.findall(SYSTEM_PROMPT.lower())
    grams = {tuple(prompt_words[i:i + LEAK_NGRAM]) for i in range(len(prompt_words) - LEAK_NGRAM + 1)}
    words = _WORDS.findall(reply.lower())
    for i in range(len(words) - LEAK_NGRAM + 1):
        if tuple(words[i:i + LEAK_NGRAM]) in grams:
            problems.append(f"repeats the system prompt ({' '.join(words[i:i + LEAK_NGRAM])!r})")
            break
    return problems


def verify(reply: str, facts: ReplyFacts, known_brands: Sequence[str] = ()) -> Verdict:
    """Every price, offer, brand, product name, stock/delivery claim, duration and rating in `reply` must come from
    `facts`, as must contact details, payment rules, fees, times, other shops and claimed actions
    (assistant/reply/claims.py); an after-sales reply must be worded from its policy snippets, and the reply must
    not echo the system prompt. known_brands: the loaded catalog's brands (a brand of the shop that was not shown is an invented claim)."""
    brands = list(known_brands)
    brands += [b for b in facts.brands if b not in brands]
    problems: list[str] = []
    if not reply.strip():
        problems.append("empty reply")
    problems += _check_prices(reply, facts)
    problems += _check_offers(reply, facts)
    problems += _check_brands(reply, facts, brands)
    problems += _check_names(reply, facts, brands)
    problems += _check_stock(reply, facts)
    problems += _check_policy_numbers(reply, facts)
    problems += _check_policy_support(reply, facts)
    problems += _check_ratings(reply, facts)
    problems += _check_leak(reply)
    problems += check_claims(reply, facts)
    problems += _check_word_support(reply, facts)
    return Verdict(ok=not problems, problems=list(dict.fromkeys(problems)))
