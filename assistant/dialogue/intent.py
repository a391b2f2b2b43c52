"""What kind of message this is. (The guards for untrusted text are assistant/dialogue/sanitize.py and
assistant/dialogue/injection.py.)

Rules and keyword lists only: deterministic, fast, and easy to extend by adding a pattern. Kinds:
"product_search" (the default), "after_sales" (answered from the policy collection; `after_sales_topic` names the
policy id of catalog/demo.py), "off_topic" (a polite redirect) and "smalltalk" (greetings, thanks, goodbyes).
"""
from __future__ import annotations

import re

# After-sales topics, most specific first: "refund for a damaged item" is damaged-items, not returns, and "cancel my
# order" is order-tracking. Each id is a policy id of catalog/demo.py POLICIES_TEXT.
_TOPIC_PATTERNS = [
    ("price-match", r"\bprice[- ]?match|\bmatch (?:a |the |your )?(?:lower |competitor'?s? )?price"
                    r"|\bcheaper (?:elsewhere|at another|on another)|\bprice (?:dropped|drop) after"),
    ("gift-cards", r"\bgift ?cards?\b|\bgift certificates?\b"),
    ("damaged-items", r"\bdamaged\b|\barrived (?:broken|cracked|dented)|\bbroken (?:on|when it) arrived"
                      r"|\bwrong (?:item|size sent|colou?r sent|product)\b|\bfaulty\b|\bdefective\b"
                      r"|\bmissing (?:parts?|pieces?)\b"),
    ("warranty", r"\bwarrant(?:y|ies)\b|\bguarantee[ds]?\b|\bstopped working\b|\bmanufacturing defect"),
    ("order-tracking", r"\border status\b|\btrack(?:ing)? (?:my |the |an )?(?:order|package|parcel)"
                       r"|\btracking (?:number|link|info)|\bwhere(?:'s| is) my (?:order|package|parcel|stuff)"
                       r"|\bcancel (?:my |the |an |this )?order|\b(?:change|edit|modify) (?:my |the )?"
                       r"(?:order|shipping address|delivery address)\b|\bmy order\b|\border number\b"),
    ("returns", r"\breturn(?:s|ing)? (?:policy|window|label|it|this|that|them|an? |the |my |items?)"
                r"|\b(?:how|can|could) (?:do |can )?(?:i|we) return\b|\brefunds?\b"
                r"|\bsend (?:it|this|them) back\b|\bexchange (?:it|this|them|an? |my )"),
    ("shipping", r"\bshipping\b|\bdeliver(?:y|ies|ed)?\b|\bship (?:to|internationally|abroad|overseas)"
                 r"|\bpostage\b|\bnext[- ]day\b|\bexpress (?:shipping|delivery)|\bcustoms (?:fees?|duties)"
                 r"|\bimport (?:duties|taxes)\b|\bhow long (?:does|will) (?:it|my order|delivery) take"),
    ("payment", r"\bpayments?\b|\bpay (?:with|by|using|via|in)\b|\bpaypal\b|\bcredit cards?\b|\bapple pay\b"
                r"|\bgoogle pay\b|\binvoices?\b|\bbilling\b|\bcharged (?:twice|me)\b|\breceipt\b"
                r"|\b(?:pay|accept)\b.{0,20}\b(?:bitcoin|crypto\w*|cash|cheques?|checks?)\b"),
    ("privacy", r"\bprivacy\b|\bmy (?:personal )?data\b|\bdelete my (?:account|data|info)"
                r"|\bpersonal (?:data|information)\b|\bgdpr\b|\bcookies? policy\b|\bunsubscribe\b"),
    ("contact", r"\bcontact (?:you|support|customer)|\bcustomer (?:service|support|care)\b"
                r"|\bsupport (?:hours|team|email|phone)\b|\bphone number\b|\bopening hours\b"
                r"|\b(?:talk|speak) to (?:a |an )?(?:human|person|agent|someone|representative)"),
]
AFTER_SALES_TOPICS = [(topic, re.compile(pattern, re.I)) for topic, pattern in _TOPIC_PATTERNS]

# Clearly unrelated requests. "weather" only as a question about the weather, so that "cold weather jacket" and
# "weather-sealed camera" stay product searches.
OFF_TOPIC = re.compile(
    r"\b(?:what'?s|how'?s|what is|how is) the weather\b|\bweather (?:forecast|today|tomorrow|like in)\b|\bforecast\b"
    r"|\bpolitic(?:s|al|ian|ians)?\b|\belections?\b|\bpresident\b|\bvote for\b|\bgovernment\b"
    r"|\bjokes?\b|\bfunny story\b|\bpoem\b|\bhomework\b|\bessay\b|\bequation\b|\bmath(?:s)? problem\b"
    r"|\bcapital of\b|\bwho won\b|\bwrite (?:a |some |me a )?(?:code|program|function|script|poem|story)\b"
    r"|\bpython\b|\bjavascript\b|\bsql quer|\bdebug (?:my|this)\b"
    r"|\bdiagnos\w*|\bsymptoms?\b|\bmedication\b|\bdosage\b|\bprescription\b|\bshould i see a doctor\b"
    r"|\blegal advice\b|\blawyer\b|\blawsuit\b|\bsue (?:my|him|her|them)\b|\bmeaning of life\b|\brecipe\b",
    re.I)

# Shopping signals that win over an off-topic word: "a jacket for the weather forecast says rain" is still shopping.
SHOPPING = re.compile(r"\b(?:buy|purchase|shop(?:ping)?|price[sd]?|cheap\w*|recommend\w*|looking for|in stock"
                      r"|gift for|on sale|under \$?\d|\$\s?\d)", re.I)

# Words a whole smalltalk message may consist of ("hi there!", "thanks a lot", "ok bye").
SMALLTALK_WORDS = set("hi hello hey hiya yo there thanks thank you thx ty cheers bye goodbye see ya later ok okay "
                      "great cool nice awesome perfect good morning afternoon evening night a lot so much very much "
                      "how are who what can do lol :) doing today".split())
SMALLTALK_TOKEN = re.compile(r"[\w:)']+")  # words, and ":)"
# Questions about the assistant itself are smalltalk too.
SMALLTALK_PHRASE = re.compile(r"^\s*(?:how are you|who are you|what can you do|are you a bot|are you human)\b", re.I)

def after_sales_topic(message: str) -> str | None:
    """The policy id an after-sales question is about ("returns", "shipping", ...), or None."""
    for topic, pattern in AFTER_SALES_TOPICS:
        if pattern.search(message):
            return topic
    return None


def classify(message: str) -> str:
    """One of "product_search", "after_sales", "off_topic", "smalltalk"."""
    text = message.strip()
    if after_sales_topic(text):
        return "after_sales"
    if OFF_TOPIC.search(text) and not SHOPPING.search(text):
        return "off_topic"
    words = SMALLTALK_TOKEN.findall(text.lower())
    if SMALLTALK_PHRASE.search(text) or (words and len(words) <= 8 and all(w in SMALLTALK_WORDS for w in words)):
        return "smalltalk"
    return "product_search"
