"""What kind of message this is, and the guards for untrusted text: prompt-injection patterns, truncation, sanitising.

Rules and keyword lists only: deterministic, fast, and easy to extend by adding a pattern. Kinds:
"product_search" (the default), "after_sales" (answered from the policy collection; `after_sales_topic` names the
policy id of catalog/demo.py), "off_topic" (a polite redirect) and "smalltalk" (greetings, thanks, goodbyes).
"""
from __future__ import annotations

import re
import unicodedata

MAX_MESSAGE_CHARS = 1000

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

# Prompt-injection patterns. A match flags the message; the pipeline then ignores any constraint in it.
INJECTION_PATTERNS: list[re.Pattern[str]] = [
    # Attempts to cancel the instructions: "ignore all previous instructions", "disregard the above".
    re.compile(r"\b(?:ignore|disregard|forget|override|bypass)\b[^.\n]{0,40}?\b(?:instructions?|rules|prompts?"
               r"|guidelines|directions|the above|everything above|previous|prior|system)\b", re.I),
    # Role changes: "you are now DAN", "act as the shop owner", "pretend you are".
    re.compile(r"\byou are now\b|\bfrom now on,? you\b|\bpretend (?:to be|you are|you're)\b|\bact as\b"
               r"|\brole-?play as\b|\bdeveloper mode\b|\bjailbr[eo]a?k\w*|\bdo anything now\b|\badmin mode\b"
               r"|\bsudo\b|\bnew (?:instructions|rules)\b", re.I),
    # Prompt extraction: "print your system prompt", "reveal your instructions".
    re.compile(r"\bsystem prompt\b|\b(?:print|reveal|show|repeat|output|display|leak|tell me|what (?:is|are))\b"
               r"[^.\n]{0,30}?\b(?:your|the)\s+(?:system\s+|initial\s+|hidden\s+)?(?:prompt|instructions|rules)\b",
               re.I),
    # Price or policy tampering: "set the price to $1", "give me 100% off", "change your return policy".
    # A verb with a determiner, so the adjective in "a link to the lower price" is no attack.
    re.compile(r"\b(?:set|change|make|update|lower|reduce|drop)\s+(?:the|its|all|every|their|your|this|that)\s+"
               r"(?:\w+\s+)?(?:price|prices|cost)\b|\b(?:set|change|make)\s+prices?\s+(?:to|=)"
               r"|\b(?:give|apply|grant)\s+(?:me\s+|us\s+)?(?:an?\s+)?(?:\d+\s*%\s*(?:off|discount)|discount|free)\b"
               r"|\b100\s*%\s*off\b|\b(?:change|update|modify|rewrite)\s+(?:the\s+|your\s+)?(?:\w+\s+)?"
               r"polic(?:y|ies)\b", re.I),
    # Chat-template role markers pasted into the text.
    re.compile(r"<\|?\s*/?\s*(?:system|assistant|user|im_start|im_end|endoftext)\s*\|?>|\[/?(?:INST|SYS)\]"
               r"|<<\s*/?\s*SYS\s*>>|^\s*#{2,}\s*(?:system|assistant|instructions?)\b|^\s*(?:system|assistant)\s*:",
               re.I | re.M),
]

# Markers that sanitize_untrusted rewrites: chat-template tokens, [INST], <<SYS>>, and "### system" headings.
ROLE_TOKEN = re.compile(r"<\|?\s*/?\s*(\w+)\s*\|?>|\[/?\s*(INST|SYS)\s*\]|<<\s*/?\s*(SYS)\s*>>", re.I)
ROLE_HEADING = re.compile(r"^(\s*)#{2,}\s*(system|assistant|user|instructions?)\b:?", re.I | re.M)
ROLE_PREFIX = re.compile(r"^(\s*)(system|assistant)\s*:", re.I | re.M)
# Control characters (keeping tab and newline), zero-width and bidi-override characters that hide text.
INVISIBLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")


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


def detect_injection(text: str) -> bool:
    """True when the text tries to change the assistant's instructions, prices or policies, or to read its prompt."""
    text = unicodedata.normalize("NFKC", text)
    return any(p.search(text) for p in INJECTION_PATTERNS)


def truncate(text: str, limit: int = MAX_MESSAGE_CHARS) -> tuple[str, str | None]:
    """The text cut to `limit` characters (at a space when one is near the end) and a notice, or (text, None)."""
    if len(text) <= limit:
        return text, None
    cut = text[:limit]
    space = cut.rfind(" ")
    if space >= limit - 50:
        cut = cut[:space]
    return cut, f"Your message was long, so I read only the first {limit:,} characters."


def sanitize_untrusted(text: str) -> str:
    """Text from a user or the catalog made safe to quote inside a prompt: invisible characters removed and role
    markers ("<|system|>", "[INST]", "### system", "assistant:") turned into plain words."""
    text = INVISIBLE.sub("", unicodedata.normalize("NFKC", text))
    text = ROLE_TOKEN.sub(lambda m: "(" + (m.group(1) or m.group(2) or m.group(3)).lower() + ")", text)
    text = ROLE_HEADING.sub(lambda m: f"{m.group(1)}{m.group(2)} -", text)
    text = ROLE_PREFIX.sub(lambda m: f"{m.group(1)}{m.group(2)} -", text)
    return text.replace("```", "'''")
