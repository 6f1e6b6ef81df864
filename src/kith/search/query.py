"""What the user typed, made safe: tokens, the FTS5 match expression, the ranking parameters.

User text is never handed to a query parser. It is cut into tokens (runs of letters, digits and
combining marks: every quote, operator, bracket, colon or star is a separator), and the match
expression is built from those tokens alone, each quoted and made a prefix term, ANDed. So
``"``, ``*``, ``-``, ``NEAR``, ``AND``, ``(``, ``:`` all search as plain words or not at all.
Each backend then tokenizes a quoted token as it tokenized the indexed text (case and accent
folding, further splitting), so both sides agree without Python re-implementing either.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

MAX_TOKENS = 16
MAX_TOKEN_LENGTH = 100


def _is_token_char(ch: str) -> bool:
    cat = unicodedata.category(ch)
    return cat[0] in "LNM" or cat == "Co"


def tokenize(text: str) -> list[str]:
    """Distinct tokens in order of appearance, at most ``MAX_TOKENS``, each cut to ``MAX_TOKEN_LENGTH``."""
    out: dict[str, None] = {}
    cur: list[str] = []
    for ch in text + " ":
        if _is_token_char(ch):
            cur.append(ch)
            continue
        if cur:
            out.setdefault("".join(cur)[:MAX_TOKEN_LENGTH], None)
            cur = []
            if len(out) == MAX_TOKENS:
                break
    return list(out)


# Characters that only separate words in what people search for (names, emails, domains, phone
# numbers): a query holding no other symbol is answered by the full-text index alone.
WORD_SEPARATORS = frozenset(" \t@.-'\u2019,/+:;()\"")


def has_symbols(text: str) -> bool:
    """Whether ``text`` holds a symbol the tokenizer drops and people mean literally (``%``,
    ``_``, ``&``, ``#``, ``\\``...): such a query also matches as a literal substring."""
    return any(not _is_token_char(ch) and ch not in WORD_SEPARATORS for ch in text)


def clean(text: str) -> str:
    """The query with control characters and lone surrogates removed and spaces collapsed: what is
    compared with whole field values (exact and prefix ranking, substring matching)."""
    kept = "".join(" " if unicodedata.category(ch) in {"Cc", "Cs", "Cn"} else ch for ch in text)
    return " ".join(kept.split())


@dataclass(frozen=True)
class Terms:
    tokens: tuple[str, ...]
    whole: str  # the cleaned query, lower-cased: compared with whole values (rank 0/1, substrings)
    joined: str  # the tokens lower-cased and joined by one space ("o'brien" -> "o brien")
    first: str  # the first token lower-cased: a word of the name starting with it ranks 2
    literal: bool = False  # the query holds symbols: it also matches as a literal substring

    @property
    def empty(self) -> bool:
        """Nothing to search for: no token and no symbol to match literally."""
        return not self.tokens and not self.literal


def parse(text: str) -> Terms:
    cleaned = clean(text)
    tokens = tuple(tokenize(cleaned))
    return Terms(tokens=tokens, whole=cleaned.lower(), joined=" ".join(t.lower() for t in tokens),
                 first=tokens[0].lower() if tokens else "", literal=bool(cleaned) and has_symbols(cleaned))


def fts5_match(tokens: tuple[str, ...] | list[str]) -> str:
    """``"ali"* "acme"*``: every token a quoted prefix term (quotes doubled, though tokens hold none)."""
    return " ".join('"' + t.replace('"', '""') + '"*' for t in tokens)


def like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
