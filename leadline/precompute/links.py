"""The entity-link graph: for each passage, the other passages whose names it mentions. No LLM.

Why: the second hop of a bridge question is usually *named* in the first hop's passage ("Kiss and
Tell" names Shirley Temple), so following that mention finds the next passage without another
model call or query. Names are matched with one Aho-Corasick automaton (pyahocorasick): a single
pass over a passage finds every name of every other passage, so a 100k-passage corpus links in
minutes, where a loop over patterns would take hours.

A passage's names: its title, the title without a trailing "(disambiguation)" ("Kiss and Tell
(1945 film)" is also "Kiss and Tell"), and the name its text opens with when that shares a word
with the title ("Shirley Temple Black (April 23, 1928 - ...) was ..."). Text and names are
compared with punctuation folded to spaces ("Mr. Smith" = "Mr Smith", "AC/DC" = "AC DC").

The rule that keeps a title which is a common word from linking everything:
1. A name matches whole words only, with its own capitals ("Tell" does not match "tell"); a
   leading "The" may also be written "the" ("the Beatles").
2. A one-word name the corpus writes in lower case more often than capitalised ("Music", "It",
   "Tell" in most corpora), or that is an English stopword, is a common word, not a name: it
   never links.
3. A name without a letter (a year, a number) never links.
4. A name shared by more than `max_targets` documents is ambiguous and never links.
Overlapping mentions resolve to the longest ("New York City", not "New York"), leftmost first.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from leadline.tools.search.base import Passage

MAX_TARGETS = 5  # documents one name may point at before it counts as ambiguous
MAX_LEAD_WORDS = 6  # an opening name longer than this is a sentence, not a name
_FOLD = re.compile(r"[\W_]+")
_PARENTHETICAL = re.compile(r"\s*\([^()]*\)\s*$")
# The subject a passage opens with: capitalised words (a few particles allowed) up to "(" "," or
# a verb; e.g. "Shirley Temple Black (April 23, 1928 ..." or "Meet Corliss Archer, a program".
_LEAD = re.compile(
    r"^((?:[A-Z0-9][\w.'&-]*)(?:\s+(?:[A-Z0-9][\w.'&-]*|of|the|and|de|von|van|da|di|del|la|le))*)"
    r"\s*(?:\(|,|\bis\b|\bwas\b|\bare\b|\bwere\b)"
)

DropReason = Literal["common word", "no letter", "ambiguous"]


def fold(text: str) -> str:
    """Punctuation and runs of whitespace become one space; case is kept (rule 1)."""
    return " ".join(_FOLD.sub(" ", text).split())


def bare_title(title: str) -> str:
    """The title less a trailing qualifier: "Against the Wind (album)" -> "Against the Wind"."""
    return _PARENTHETICAL.sub("", title)


def doc_of(passage_id: str) -> str:
    """Chunks of one document (`id#n`) belong to that document."""
    return passage_id.split("#", 1)[0]


def passage_names(title: str, text: str) -> list[str]:
    """The names a passage goes by (folded, distinct, in order): title, bare title, lead name."""
    names = [fold(title), fold(bare_title(title))]
    lead = _LEAD.match(text.strip())
    if lead:
        words = fold(lead.group(1)).split()
        if 2 <= len(words) <= MAX_LEAD_WORDS and set(words) & set(names[1].split()):
            names.append(" ".join(words))
    out: list[str] = []
    for name in names:
        if name and name not in out:
            out.append(name)
    return out


def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


@dataclass(frozen=True)
class NameIndex:
    """Which names link to which passages, and which names were dropped by the rule, and why."""

    names: dict[str, tuple[str, ...]]
    dropped: dict[str, DropReason] = field(default_factory=dict)


def collect_names(passages: Iterable[Passage], *, max_targets: int = MAX_TARGETS) -> NameIndex:
    """Apply the rule in the module docstring to every passage's names."""
    owners: dict[str, list[str]] = defaultdict(list)
    words: Counter[str] = Counter()
    for p in passages:
        words.update(fold(p.text).split())
        for name in passage_names(p.title, p.text):
            owners[name].append(p.id)
    stop = _stopwords()
    names: dict[str, tuple[str, ...]] = {}
    dropped: dict[str, DropReason] = {}
    for name, ids in owners.items():
        lower = name.lower()
        if not any(c.isalpha() for c in name):
            dropped[name] = "no letter"
        elif " " not in name and (lower in stop or words[lower] > words[name]):
            dropped[name] = "common word"
        elif len({doc_of(i) for i in ids}) > max_targets:
            dropped[name] = "ambiguous"
        else:
            names[name] = tuple(dict.fromkeys(ids))
    return NameIndex(names, dropped)


class LinkMatcher:
    """An Aho-Corasick automaton over the names of an index; finds the names a text mentions."""

    def __init__(self, names: Mapping[str, Sequence[str]]) -> None:
        import ahocorasick

        self._automaton = ahocorasick.Automaton()
        for name, ids in names.items():
            targets = tuple(ids)
            # Padded with spaces: the folded text is padded too, so a hit is whole words.
            self._automaton.add_word(f" {name} ", (len(name), targets))
            if name.startswith("The "):
                self._automaton.add_word(f" the {name[4:]} ", (len(name), targets))
        self._empty = not names
        if not self._empty:
            self._automaton.make_automaton()

    def mentions(self, text: str) -> list[tuple[int, tuple[str, ...]]]:
        """(position, target ids) of each name mentioned, longest first where they overlap."""
        if self._empty:
            return []
        padded = f" {fold(text)} "
        hits = []
        for end, (length, targets) in self._automaton.iter(padded):
            start = end - length  # the name's first character (end is its trailing space)
            hits.append((start, start + length, targets))
        hits.sort(key=lambda h: (h[0], -(h[1] - h[0])))
        chosen: list[tuple[int, tuple[str, ...]]] = []
        taken_until = -1
        for start, stop, targets in hits:
            if start >= taken_until:
                chosen.append((start, targets))
                taken_until = stop
        return chosen

    def links(self, passage: Passage) -> tuple[str, ...]:
        """The passages `passage` points at, in order of first mention; never its own document."""
        own = doc_of(passage.id)
        out: dict[str, None] = {}
        for _, targets in self.mentions(passage.text):
            for target in targets:
                if doc_of(target) != own:
                    out.setdefault(target)
        return tuple(out)


def link_graph(
    passages: Sequence[Passage], *, max_targets: int = MAX_TARGETS
) -> dict[str, tuple[str, ...]]:
    """The whole graph at once (tests, benchmarks); precompute builds it resumably instead."""
    matcher = LinkMatcher(collect_names(passages, max_targets=max_targets).names)
    return {p.id: matcher.links(p) for p in passages}
