"""The main job on the embedded default: build a HotpotQA corpus, answer one question end to end.

Data, in order of preference: a path the user gives; the project's `../shared/data/hotpotqa/
dev300.jsonl`; else the official HotpotQA dev distractor file, downloaded once into the data
directory. Ingestion is idempotent, so a second demo starts answering at once.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from leadline.config import Settings
from leadline.errors import ConfigError, IngestError

SHARED_DEV300 = Path("..") / "shared" / "data" / "hotpotqa" / "dev300.jsonl"
OFFICIAL_DEV_URL = "http://curtis.ml.cmu.edu/datasets/hotpot/hotpot_dev_distractor_v1.json"


def demo_collection(data: Path) -> str:
    """The same name `leadline eval` gives the file's corpus, so both share one index."""
    return f"hotpotqa-{data.stem}"


def resolve_demo_data(settings: Settings, path: str | Path | None = None) -> Path:
    if path is not None:
        given = Path(path)
        if not given.exists():
            raise ConfigError(f"demo data file {given} does not exist")
        return given
    for candidate in (
        SHARED_DEV300,
        Path(__file__).resolve().parents[2] / "shared" / "data" / "hotpotqa" / "dev300.jsonl",
    ):
        if candidate.exists():
            return candidate
    return download_official_dev(settings)


def download_official_dev(settings: Settings) -> Path:
    """Fetch the official dev distractor file once (about 46 MB), with a progress bar."""
    from tqdm import tqdm

    target = settings.data_dir / "datasets" / "hotpot_dev_distractor_v1.json"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    try:
        with httpx.stream("GET", OFFICIAL_DEV_URL, timeout=60, follow_redirects=True) as response:
            response.raise_for_status()
            total = int(response.headers.get("content-length") or 0) or None
            with (
                partial.open("wb") as fh,
                tqdm(total=total, unit="B", unit_scale=True, desc="HotpotQA dev") as bar,
            ):
                for chunk in response.iter_bytes():
                    fh.write(chunk)
                    bar.update(len(chunk))
    except httpx.HTTPError as exc:
        raise ConfigError(
            f"no local HotpotQA data and the official file could not be downloaded ({exc}); "
            "pass a path: leadline demo --data FILE"
        ) from exc
    partial.replace(target)
    return target


def first_question(path: Path) -> str:
    """The first question of an IRCoT-style JSONL or official HotpotQA JSON file."""
    with path.open(encoding="utf-8") as fh:
        head = fh.read(1)
        fh.seek(0)
        try:
            record = json.loads(fh.readline()) if head == "{" else json.load(fh)[0]
        except (json.JSONDecodeError, IndexError, KeyError) as exc:
            raise IngestError(f"{path}: cannot read a first question ({exc})") from exc
    question = record.get("question_text") or record.get("question")
    if not question:
        raise IngestError(f"{path}: the first record has no question")
    return str(question)
