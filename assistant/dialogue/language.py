"""Which language a message is in, against the language of the catalog, so a shopper writing in a language the shop's
encoder cannot match hears so instead of getting unrelated products in silence.

    check = LanguageCheck.for_catalog(product_titles)        # the catalog's language, from its own titles
    check.notice("我想买一件防水夹克")    # -> "Your message looks like Chinese; this shop's catalog is in English, ..."

lingua-language-detector (offline models in the package) in its low-accuracy mode over a few common languages: ~30 MB
and well under a millisecond a message. That mode is unsure on short texts, so a message is flagged only when it is
clear: mostly written in another script (Chinese, Cyrillic, Arabic, ...), or at least three words detected as another
language with high confidence. With a multilingual encoder configured, nothing is flagged: then it does match.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Iterable

from lingua import Language, LanguageDetectorBuilder

from assistant.dialogue.spelling import english_words

LANGUAGES = (Language.ENGLISH, Language.GERMAN, Language.FRENCH, Language.SPANISH, Language.ITALIAN,
             Language.PORTUGUESE, Language.DUTCH, Language.POLISH, Language.SWEDISH, Language.TURKISH,
             Language.RUSSIAN, Language.UKRAINIAN, Language.ARABIC, Language.HINDI, Language.CHINESE,
             Language.JAPANESE, Language.KOREAN)
NON_LATIN = frozenset({Language.RUSSIAN, Language.UKRAINIAN, Language.ARABIC, Language.HINDI, Language.CHINESE,
                       Language.JAPANESE, Language.KOREAN})
MIN_CONFIDENCE = 0.6  # below this the low-accuracy detector is guessing
MIN_WORDS = 3
MAX_FAMILIAR = 0.5  # a message with at least this share of the catalog's (or English) words is not foreign
_WORD = re.compile(r"[^\W\d_]{2,}")
_DETECTOR = LanguageDetectorBuilder.from_languages(*LANGUAGES).with_low_accuracy_mode().build()


def _script_share(text: str) -> float:
    """The share of letters outside the Latin script."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 0.0
    return sum("LATIN" not in unicodedata.name(c, "LATIN") for c in letters) / len(letters)


class LanguageCheck:
    def __init__(self, catalog_language: Language | None, multilingual: bool = False,
                 known_words: frozenset[str] = frozenset()):
        self.catalog_language = catalog_language
        self.multilingual = multilingual  # the encoder reads many languages: nothing to warn about
        self.known_words = known_words  # the catalog's words (and English ones for an English catalog)

    @classmethod
    def for_catalog(cls, titles: Iterable[str], multilingual: bool = False, sample: int = 200) -> LanguageCheck:
        titles = list(titles)
        text = " ".join(titles[:sample])
        language = _DETECTOR.detect_language_of(text) if text.strip() else None
        known = {w for t in titles for w in _WORD.findall(t.lower())}
        if language == Language.ENGLISH:
            known |= english_words()
        return cls(language, multilingual, frozenset(known))

    def language_of(self, message: str) -> Language | None:
        """The message's language when it is clearly not the catalog's; None otherwise."""
        if self.multilingual or self.catalog_language is None:
            return None
        best = _DETECTOR.compute_language_confidence_values(message)
        if not best or best[0].language == self.catalog_language:
            return None
        if self.other_script(message):
            return best[0].language
        # The low-accuracy detector calls "tent under $50" German: in the catalog's script, a message is another
        # language only when most of its words are neither the catalog's nor (for English) English words.
        words = _WORD.findall(message.lower())
        familiar = sum(w in self.known_words for w in words) / len(words) if words else 1.0
        clear = len(words) >= MIN_WORDS and best[0].value >= MIN_CONFIDENCE and familiar < MAX_FAMILIAR
        return best[0].language if clear else None

    def other_script(self, message: str) -> bool:
        """Mostly written in a script the catalog does not use (Chinese for a Latin-script catalog): its encoder
        cannot match it at all."""
        return _script_share(message) > 0.5 and self.catalog_language not in NON_LATIN

    def notice(self, message: str) -> str | None:
        language = self.language_of(message)
        if language is None:
            return None
        theirs, ours = language.name.title(), self.catalog_language.name.title()
        return (f"Your message looks like {theirs}; this shop's catalog is in {ours}, so I may not find the right "
                f"products. Could you say it in {ours}?")
