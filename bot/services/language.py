"""Free text written by residents: a detected-language hint, and machine translation only through
a configured provider.

The hint is only a hint (shown to grid leaders as "written in Arabic"; never switches anyone's
interface). Machine translation is off unless a LibreTranslate-compatible server is configured;
a translation is always shown labelled, beside the original, which is always kept.
"""
from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any, Protocol

import aiohttp

log = logging.getLogger(__name__)

# Languages we expect in Chinese communities with foreign residents; restricting the model to
# them makes short texts far more reliable.
LIKELY = ("zh", "en", "ar", "ru", "ko", "es", "fr", "fa", "ja", "de", "pt", "tr", "hi", "ur", "id", "vi", "th")
MIN_CONFIDENCE = 0.8
MIN_LETTERS = 4


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    ident.set_languages(list(LIKELY))
    return ident


def detect(text: str) -> str | None:
    """An ISO 639-1 code, or None when the text is too short or the model unsure."""
    if sum(ch.isalpha() for ch in text) < MIN_LETTERS:
        return None
    code, confidence = _identifier().classify(text)
    return code if confidence >= MIN_CONFIDENCE else None


class Translator(Protocol):
    enabled: bool

    async def translate(self, text: str, source: str | None, target: str) -> str | None: ...


class NoTranslator:
    """The default: no machine translation, and nothing claims otherwise."""

    enabled = False

    async def translate(self, text: str, source: str | None, target: str) -> str | None:
        return None


class LibreTranslate:
    """A self-hosted LibreTranslate-compatible server (`POST /translate`). Failures are logged and
    yield None: a missing translation never blocks a request."""

    enabled = True

    def __init__(self, url: str, key: str | None = None, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/") + "/translate"
        self.key = key
        self.timeout = aiohttp.ClientTimeout(total=timeout)

    async def translate(self, text: str, source: str | None, target: str) -> str | None:
        body = {"q": text, "source": source or "auto", "target": target.split("_")[0], "format": "text"}
        if self.key:
            body["api_key"] = self.key
        try:
            async with aiohttp.ClientSession(timeout=self.timeout) as http:
                async with http.post(self.url, json=body) as resp:
                    if resp.status != 200:
                        log.warning("translation server answered %s", resp.status)
                        return None
                    data = await resp.json()
        except (aiohttp.ClientError, TimeoutError, ValueError) as e:
            log.warning("translation failed: %s", e)
            return None
        translated = data.get("translatedText") if isinstance(data, dict) else None
        return translated if isinstance(translated, str) and translated.strip() else None


def translator_from(url: str | None, key: str | None) -> Translator:
    return LibreTranslate(url, key) if url else NoTranslator()
