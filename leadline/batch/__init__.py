"""Many questions, one run: bounded concurrency, an optional shared token pool, nothing lost.

`aresearch_batch` runs `aresearch` over a list of questions with at most `concurrency` in flight
and yields each result as it finishes; `research_batch` is its sync wrapper. With an output file
every finished question is appended as one JSON line, flushed and fsynced before it is reported,
and ids already in the file are skipped, so a killed batch resumes with every id exactly once
(a torn last line left by the kill is cut off). With `pool=TOTAL` the questions share one token
total through `budgets.pool.BudgetPool`: each gets a fair share of what is left as its hard token
cap, and what it leaves unused flows back for the rest. A question that fails is recorded with its
error and the batch goes on. `run_file` is what `leadline batch` runs: JSONL in, JSONL out, a
progress bar on stderr. Runs here are not checkpointed: the output file is the batch's resume
point, and a question interrupted mid-run starts again from scratch.

Modules: `inputs` (question rows), `output` (the durable result file), `runner` (the
concurrent run and the pool), `file` (`run_file`, the CLI's batch).
"""

from leadline.batch.file import run_file
from leadline.batch.inputs import BatchItem, InputProblem, QuestionLike, parse_row, read_questions
from leadline.batch.output import ResultLog
from leadline.batch.runner import BatchResult, aresearch_batch, research_batch
from leadline.tools.search.passages import PassageFileSearch

__all__ = [
    "BatchItem",
    "BatchResult",
    "InputProblem",
    "PassageFileSearch",
    "QuestionLike",
    "ResultLog",
    "aresearch_batch",
    "parse_row",
    "read_questions",
    "research_batch",
    "run_file",
]
