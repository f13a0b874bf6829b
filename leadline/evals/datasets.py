"""Multi-hop QA datasets: questions, gold answers with aliases, supporting titles, pooled corpus.

One loader per layout, all yielding the same records: HotpotQA (IRCoT JSONL `contexts` layout and
the official JSON list with `supporting_facts`), MuSiQue (official JSONL with `paragraphs` and
`answer_aliases`), 2WikiMultihopQA (official JSON with `context` and `supporting_facts`) and plain
Q/A JSONL (`question` with `answer` or `answers`). A dataset is named by a spec such as
`hotpotqa:PATH`. Its corpus is pooled from the paragraphs of *every* question in the file (not only
the first n evaluated), deduplicated by content, so `-n` never changes what can be retrieved; it
is ingested into a collection named after the file (see `Dataset.collection`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leadline.errors import ConfigError, IngestError
from leadline.tools.search.base import content_id
from leadline.tools.search.formats import jsonl_values

KINDS = ("hotpotqa", "musique", "2wiki", "qa")
KIND_ALIASES = {
    "hotpot": "hotpotqa",
    "2wikimultihopqa": "2wiki",
    "wiki2": "2wiki",
    "jsonl": "qa",
    "plain": "qa",
}
_SLUG = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Example:
    """One question. `answers[0]` is the gold answer; the rest are accepted aliases."""

    id: str
    question: str
    answers: tuple[str, ...]
    supporting_titles: tuple[str, ...] = ()
    kind: str = ""  # e.g. bridge / comparison, when the dataset says


@dataclass(frozen=True)
class CorpusDoc:
    """One paragraph of the pooled corpus; `id` is the content hash ingestion also uses."""

    id: str
    title: str
    text: str


@dataclass(frozen=True)
class Dataset:
    kind: str
    path: Path
    examples: tuple[Example, ...]
    corpus: tuple[CorpusDoc, ...] = field(default=(), repr=False)

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.path.name}"

    @property
    def collection(self) -> str:
        """The collection its corpus goes into: dataset kind and file stem, e.g. hotpotqa-dev300."""
        slug = _SLUG.sub("-", f"{self.kind}-{self.path.stem}").strip("-._")
        return (slug + "-corpus")[:120] if len(slug) < 3 else slug[:120]

    def head(self, n: int | None, skip: int = 0) -> Dataset:
        """`n` questions after the first `skip` (all when None), keeping the whole corpus.

        `skip` keeps a held-out slice apart from the questions a system was developed on.
        """
        if n is not None and n < 1:
            raise ConfigError(f"-n must be at least 1, got {n}")
        if skip < 0:
            raise ConfigError(f"--skip must be at least 0, got {skip}")
        if n is None and skip == 0:
            return self
        end = None if n is None else skip + n
        return Dataset(self.kind, self.path, self.examples[skip:end], self.corpus)


# --- helpers --------------------------------------------------------------------------------------


def _unique(items: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(s.strip() for s in items if isinstance(s, str) and s.strip()))


def join_sentences(sentences: Sequence[str]) -> str:
    """Join sentence lists the way each dataset means them.

    HotpotQA sentences carry their own leading space (the official scripts use "".join), 2Wiki
    sentences do not; a space is added only where a sentence lacks one.
    """
    out = ""
    for s in sentences:
        out += s if not out or s[:1].isspace() or out[-1:].isspace() else " " + s
    return out


class _Pool:
    """Paragraphs pooled across questions, deduplicated by content id, in first-seen order."""

    def __init__(self) -> None:
        self.docs: dict[str, CorpusDoc] = {}

    def add(self, title: str, text: str) -> None:
        if text.strip():
            pid = content_id(title, text)
            self.docs.setdefault(pid, CorpusDoc(pid, title.strip(), text))


def _records_jsonl(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    for where, obj in jsonl_values(path, path.read_text(encoding="utf-8").splitlines()):
        if not isinstance(obj, dict):
            raise IngestError(f"{where}: expected a JSON object, got {type(obj).__name__}")
        yield where, obj


def _records_json_list(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise IngestError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from exc
    if not isinstance(data, list):
        raise IngestError(f"{path}: expected a JSON list of questions, got {type(data).__name__}")
    for i, obj in enumerate(data):
        if not isinstance(obj, dict):
            raise IngestError(f"{path}: item {i}: expected a JSON object")
        yield f"{path}: item {i}", obj


def _records(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """JSONL or a JSON list, told apart by the first non-space character."""
    with path.open(encoding="utf-8") as fh:
        head = fh.read(64).lstrip()
    return _records_json_list(path) if head.startswith("[") else _records_jsonl(path)


def _need(obj: dict[str, Any], key: str, where: str, kind: type | tuple[type, ...] = str) -> Any:
    value = obj.get(key)
    if not isinstance(value, kind) or (isinstance(value, str) and not value.strip()):
        got = "missing" if key not in obj else repr(value)[:40]
        raise IngestError(f"{where}: '{key}' is required ({got})")
    return value


# --- loaders -------------------------------------------------------------------------------------


def _hotpot_ircot(where: str, obj: dict[str, Any], pool: _Pool) -> Example:
    answers: list[str] = []
    for ao in obj.get("answers_objects") or []:
        spans = [s for s in ao.get("spans") or [] if isinstance(s, str)]
        if spans:
            answers.extend(spans)
        elif ao.get("number"):
            answers.append(str(ao["number"]))
    if not answers:
        raise IngestError(f"{where}: no answer in 'answers_objects'")
    supporting: list[str] = []
    for j, ctx in enumerate(_need(obj, "contexts", where, list)):
        at = f"{where}: contexts[{j}]"
        title, text = _need(ctx, "title", at), _need(ctx, "paragraph_text", at)
        pool.add(title, text)
        if ctx.get("is_supporting"):
            supporting.append(title)
    return Example(
        str(_need(obj, "question_id", where, (str, int))),
        _need(obj, "question_text", where),
        _unique(answers),
        _unique(supporting),
    )


def _context_pairs(obj: dict[str, Any], where: str, pool: _Pool) -> None:
    for j, entry in enumerate(_need(obj, "context", where, list)):
        if not (
            isinstance(entry, list)
            and len(entry) == 2
            and isinstance(entry[0], str)
            and isinstance(entry[1], list)
        ):
            raise IngestError(f"{where}: context[{j}]: expected [title, [sentence, ...]]")
        pool.add(entry[0], join_sentences([s for s in entry[1] if isinstance(s, str)]))


def _supporting_facts(obj: dict[str, Any]) -> tuple[str, ...]:
    facts = obj.get("supporting_facts") or []
    return _unique([f[0] for f in facts if isinstance(f, list | tuple) and f])


def _official(where: str, obj: dict[str, Any], pool: _Pool) -> Example:
    """Official HotpotQA and 2WikiMultihopQA share this layout."""
    _context_pairs(obj, where, pool)
    answer = obj.get("answer")
    if not isinstance(answer, str | int | float):
        raise IngestError(f"{where}: 'answer' is required")
    aliases = [a for a in obj.get("answer_aliases") or [] if isinstance(a, str)]
    return Example(
        str(_need(obj, "_id", where, (str, int))),
        _need(obj, "question", where),
        _unique([str(answer), *aliases]),
        _supporting_facts(obj),
        str(obj.get("type") or ""),
    )


def _musique(where: str, obj: dict[str, Any], pool: _Pool) -> Example:
    supporting: list[str] = []
    for j, p in enumerate(_need(obj, "paragraphs", where, list)):
        at = f"{where}: paragraphs[{j}]"
        title, text = _need(p, "title", at), _need(p, "paragraph_text", at)
        pool.add(title, text)
        if p.get("is_supporting"):
            supporting.append(title)
    answer = _need(obj, "answer", where)
    aliases = [a for a in obj.get("answer_aliases") or [] if isinstance(a, str)]
    hops = str(obj["id"]).split("_")[0] if isinstance(obj.get("id"), str) else ""
    return Example(
        str(_need(obj, "id", where, (str, int))),
        _need(obj, "question", where),
        _unique([answer, *aliases]),
        _unique(supporting),
        hops,
    )


def _plain(where: str, obj: dict[str, Any], pool: _Pool, index: int) -> Example:
    if isinstance(obj.get("answers"), list):
        answers = [str(a) for a in obj["answers"] if isinstance(a, str | int | float)]
    elif isinstance(obj.get("answer"), str | int | float):
        answers = [str(obj["answer"])]
    else:
        raise IngestError(f"{where}: needs 'answer' (a string) or 'answers' (a list)")
    answers += [
        a for a in obj.get("aliases") or obj.get("answer_aliases") or [] if isinstance(a, str)
    ]
    if not _unique(answers):
        raise IngestError(f"{where}: the answer is empty")
    for j, p in enumerate(obj.get("paragraphs") or []):
        at = f"{where}: paragraphs[{j}]"
        pool.add(str(p.get("title") or ""), _need(p, "text", at))
    qid = obj.get("id", obj.get("_id", f"q{index}"))
    titles = obj.get("supporting_titles") or []
    return Example(
        str(qid),
        _need(obj, "question", where),
        _unique(answers),
        _unique([t for t in titles if isinstance(t, str)]),
    )


def _detect_hotpot(obj: dict[str, Any], where: str) -> str:
    if "contexts" in obj:
        return "ircot"
    if "context" in obj:
        return "official"
    raise IngestError(
        f"{where}: not a HotpotQA record (keys: {', '.join(sorted(obj))}); expected 'contexts' "
        "(IRCoT layout) or 'context' (official layout)"
    )


def load_file(kind: str, path: Path | str) -> Dataset:
    """Every question of a dataset file, and its pooled corpus."""
    kind = KIND_ALIASES.get(kind.lower(), kind.lower())
    if kind not in KINDS:
        raise ConfigError(f"unknown dataset kind {kind!r}; use one of {', '.join(KINDS)}")
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"dataset file {path} does not exist")
    pool = _Pool()
    examples: list[Example] = []
    seen: set[str] = set()
    for i, (where, obj) in enumerate(_records(path)):
        if kind == "hotpotqa":
            layout = _detect_hotpot(obj, where)
            ex = (_hotpot_ircot if layout == "ircot" else _official)(where, obj, pool)
        elif kind == "2wiki":
            ex = _official(where, obj, pool)
        elif kind == "musique":
            ex = _musique(where, obj, pool)
        else:
            ex = _plain(where, obj, pool, i)
        if ex.id in seen:
            raise IngestError(f"{where}: duplicate question id {ex.id!r}")
        seen.add(ex.id)
        examples.append(ex)
    if not examples:
        raise IngestError(f"{path}: no questions found")
    return Dataset(kind, path, tuple(examples), tuple(pool.docs.values()))


def parse_spec(spec: str) -> tuple[str, Path]:
    """`KIND:PATH` → (kind, path); a bare path ending in .jsonl/.json is read as HotpotQA."""
    kind, sep, rest = spec.partition(":")
    if sep and KIND_ALIASES.get(kind.lower(), kind.lower()) in KINDS:
        return KIND_ALIASES.get(kind.lower(), kind.lower()), Path(rest)
    if Path(spec).suffix in (".json", ".jsonl"):
        return "hotpotqa", Path(spec)
    raise ConfigError(
        f"dataset spec {spec!r} must look like KIND:PATH with KIND one of {', '.join(KINDS)}"
    )


def load_dataset(spec: str, n: int | None = None, skip: int = 0) -> Dataset:
    """Load `KIND:PATH`, keeping `n` questions after the first `skip` (the corpus pools the
    whole file)."""
    kind, path = parse_spec(spec)
    return load_file(kind, path).head(n, skip)
