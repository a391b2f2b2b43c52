"""Claims a reply may make only when the shop's own facts make them: contact details, payment rules, fees, opening
hours, availability hedges, other shops, things the assistant says it did, and the world outside the shop (weather,
news, opinions). assistant.reply.grounding checks prices, products, brands, stock, durations and ratings; this
module covers what a small model adds around them ("prices may vary", "only with a credit card", "try Amazon",
"I did provide a refund", "10-20 degrees tomorrow").

    problems = check_claims("Call us at 555-0100 or try Best Buy.", facts)   # two problems

Support: a contact detail, a time of day, a payment method or a shop's name must itself appear in the facts
(products, constraints, policies, notices, the shop's contact); for the other topics, a statement of the same topic
in the facts is enough (a policy that names a restocking fee lets a reply mention fees). Opinions and the world
outside the shop are never facts of the shop: they are always unsupported unless the facts say the same words
(a "rain jacket" lets a reply say "rain"). All patterns are bounded (tests/test_regex_linear.py times them).
"""
from __future__ import annotations

import re

from assistant.reply.facts import ReplyFacts

_EMAIL = re.compile(r"[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,4}")
_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>()\"']{1,200}", re.I)
_DOMAIN = re.compile(r"\b[a-z0-9-]{2,63}\.(?:com|net|org|co|io|shop|store|uk|de|fr|ca|au)\b", re.I)
_PHONE = re.compile(r"(?<![\w.,$£€])\+?\d[\d ().-]{5,18}\d(?![\w.,]\d)")
_NUMBER = re.compile(r"\d+")

# Topics where the exact words must be in the facts (a store, a payment method, a time).
_EXACT = {
    "another shop": r"\b(?:amazon|ebay|walmart|best buy|sears|costco|aliexpress|etsy|home depot|ikea|argos|"
                    r"other (?:stores?|shops?|retailers?|websites?|sellers?)|another (?:store|shop|retailer|website|"
                    r"seller)|elsewhere|local stores?|competitors?)\b",
    "a payment rule": r"\b(?:credit cards?|debit cards?|paypal|apple pay|google pay|klarna|afterpay|cash on delivery|"
                      r"bank transfers?|cheques?|installments?|instalments?|financing|payment (?:plans?|methods?|"
                      r"options?))\b",
    "a time or opening hours": r"\b(?:\d{1,2}(?::\d{2})?\s?(?:am|pm|a\.m\.|p\.m\.)|24/7|around the clock|"
                               r"business hours|opening hours|office hours|(?:mon|tues|wednes|thurs|fri|satur|sun)days?|"
                               r"weekends?|tomorrow|tonight)\b",
}
# Topics where a statement of the same topic in the facts is enough.
_TOPIC = {
    "a fee": r"\b(?:fees?|surcharges?|restocking|handling charges?|service charges?)\b",
    "an availability hedge": r"\b(?:may vary|subject to (?:change|availability)|while (?:supplies|stocks?) lasts?|"
                             r"limited[- ]time|prices? (?:may|might|can|could) (?:change|vary))\b",
    "something the assistant did": r"\b(?:i|we)\s(?:have\s|'ve\s|already\s|just\s|did\s){0,2}(?:issued|processed|"
                                   r"refunded|shipped|sent|cancell?ed|provided|arranged|booked|credited|emailed|"
                                   r"called|replaced|issue|process|refund|provide|arrange|credit)\b|"
                                   r"\bi(?:'ll|\swill)\s(?:send|ship|refund|call|email|contact|process|arrange|cancel|"
                                   r"replace)\b",
    "the world outside the shop": r"\b(?:weather|forecast|temperatures?|degrees|sunny|cloudy|rain(?:y|ing)?|snow(?:fall|ing|y)?|"
                                  r"news|headlines?|elections?|stock market|politics|sports scores?)\b",
    "an opinion": r"\b(?:i think|i believe|in my opinion|personally|i love|my favou?rite|i feel|i prefer)\b",
}
_EXACT_RE = {name: re.compile(p, re.I) for name, p in _EXACT.items()}
_TOPIC_RE = {name: re.compile(p, re.I) for name, p in _TOPIC.items()}


def _contact_problems(reply: str, source: str) -> list[str]:
    problems = []
    low = source.lower()
    for pattern, what in ((_EMAIL, "e-mail address"), (_URL, "web address"), (_DOMAIN, "web address")):
        for m in pattern.finditer(reply):
            if m.group(0).lower().rstrip(".") not in low:
                problems.append(f"{what} {m.group(0)!r} is not in the facts")
    numbers = set(_NUMBER.findall(source))
    for m in _PHONE.finditer(reply):
        digits = _NUMBER.findall(m.group(0))
        if sum(len(d) for d in digits) >= 7 and not all(d in numbers for d in digits):
            problems.append(f"phone number {m.group(0).strip()!r} is not in the facts")
    return problems


def check_claims(reply: str, facts: ReplyFacts) -> list[str]:
    """Problems with the claims above in `reply`; [] when every one is supported by `facts`."""
    source = facts.all_text()
    low = source.lower()
    problems = _contact_problems(reply, source)
    for name, pattern in _EXACT_RE.items():
        for m in pattern.finditer(reply):
            if m.group(0).lower() not in low:
                problems.append(f"{name} ({m.group(0)!r}) is not in the facts")
    for name, pattern in _TOPIC_RE.items():
        m = pattern.search(reply)
        if m and not pattern.search(source) and m.group(0).lower() not in low:
            problems.append(f"{name} ({m.group(0)!r}) is not in the facts")
    return problems
