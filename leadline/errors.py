"""The exception tree: one base class, so callers can catch everything leadline raises.

    LeadlineError
    ├── ConfigError            bad settings, budgets or arguments (fix the input)
    ├── ModelError             the embedded model file or server (missing, corrupt, won't start)
    ├── LLMError               talking to an OpenAI-compatible endpoint
    │   ├── LLMUnavailable     connection refused / retries exhausted on 429 and 5xx
    │   ├── LLMTimeout         the request took longer than the timeout, after retries
    │   ├── LLMRequestError    a 4xx that cannot succeed if retried
    │   ├── LLMResponseError   an HTTP 200 that is not a chat completion (not JSON), after retries
    │   └── LLMOutputError     the reply could not be parsed, even after one repair attempt
    ├── SearchError            a search backend failed or is unreachable
    │   └── UnsafeURLError     a fetch refused by the SSRF guard
    ├── IngestError            a corpus file is malformed (names the file and line)
    └── BudgetError            a budget that cannot be honoured (e.g. caps below the answer reserve)

Recoverable model and tool errors inside a research run go back into the loop as data (a search
that failed is an empty result with an error note); only fatal ones propagate.
"""

from __future__ import annotations


class LeadlineError(Exception):
    """Base class of every error leadline raises on purpose."""


class ConfigError(LeadlineError):
    """Settings, budgets or arguments are invalid; the message says which and how to fix it."""


class ModelError(LeadlineError):
    """The embedded model file or server is missing, corrupt or failed to start."""


class LLMError(LeadlineError):
    """A call to an OpenAI-compatible endpoint failed."""


class LLMUnavailable(LLMError):
    """The endpoint could not be reached, or kept answering 429/5xx until retries ran out."""


class LLMTimeout(LLMError):
    """The endpoint did not answer within the timeout, after retries."""


class LLMRequestError(LLMError):
    """The endpoint refused the request with a 4xx that a retry cannot fix."""


class LLMResponseError(LLMError):
    """The endpoint answered, but not with a chat completion (a body that is not JSON, or has no
    choices), even after retries: a broken proxy or a server that is not OpenAI-compatible."""


class LLMOutputError(LLMError):
    """The model's reply could not be parsed into the expected structure, even after a repair."""

    def __init__(self, message: str, *, raw: str = "") -> None:
        super().__init__(message)
        self.raw = raw


class SearchError(LeadlineError):
    """A search backend failed or is unreachable."""


class UnsafeURLError(SearchError):
    """A URL was refused because it points at a private, loopback or link-local address."""


class IngestError(LeadlineError):
    """A corpus file could not be ingested; the message names the file and line."""


class BudgetError(LeadlineError):
    """A budget is invalid or cannot be honoured."""
