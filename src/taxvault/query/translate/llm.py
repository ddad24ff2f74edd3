"""A translator behind any OpenAI-compatible chat endpoint (llama.cpp server, vLLM, Ollama).

The model only *proposes* a plan: it is asked for JSON matching the plan's JSON Schema
(structured output, ``response_format: json_schema``), and what comes back is validated
by :class:`~taxvault.query.plan.Plan` like any other plan; anything else (a refusal,
text that is not JSON, JSON that is not a valid plan, a truncated answer) is
:class:`Unsupported` ("I can't express that"), never a guess.

What the model sees: the vocabulary (sets, fields, their types and coded values, the
relations), the rules of the plan language, today's date, and the question. Never a
data value: this module does not open the store at all, so no name, address, amount or
notice text can reach a prompt, and no text in the data can instruct the model.

Configuration: ``TAXVAULT_LLM_URL`` (the server's base URL; ``/v1/chat/completions`` is
appended), ``TAXVAULT_LLM_MODEL``, optional ``TAXVAULT_LLM_API_KEY`` (sent as a bearer
token) and ``TAXVAULT_LLM_TIMEOUT`` (seconds, default 30). An endpoint that cannot be
reached, times out or answers with an HTTP error is :class:`~taxvault.errors.Unavailable`.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import os
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from taxvault.errors import Invalid, Unavailable
from taxvault.query.plan import Plan
from taxvault.query.translate import CANNOT_EXPRESS, Unsupported
from taxvault.query.vocab import FIELDS, RELATIONS, SET_NOUN, EntitySet

log = logging.getLogger("taxvault.query.llm")

MAX_QUESTION = 500
MAX_RESPONSE_BYTES = 1_000_000
DEFAULT_TIMEOUT = 30.0
NEAREST_FORMS: tuple[str, ...] = (
    "How many returns were filed in 2024?",
    "How many taxpayers are there in each state?",
    "What were the total wages on 2024 returns by state?",
    "Average refund by filing status in 2024",
    "Top 10 states by number of CP2000 notices",
)
"""Shown with "I can't express that": the kinds of question the plan language covers."""


@dataclass(frozen=True, slots=True)
class LlmConfig:
    """Where the model is and how long to wait for it."""

    url: str
    model: str
    api_key: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def from_env(cls) -> LlmConfig:
        """The endpoint from ``TAXVAULT_LLM_*`` (:class:`Unavailable` when none is configured)."""
        url = os.environ.get("TAXVAULT_LLM_URL", "").strip()
        model = os.environ.get("TAXVAULT_LLM_MODEL", "").strip()
        if not url or not model:
            raise Unavailable(
                "no language model is configured: set TAXVAULT_LLM_URL and TAXVAULT_LLM_MODEL",
                code="llm-not-configured",
            )
        if not url.startswith(("http://", "https://")):
            raise Invalid("TAXVAULT_LLM_URL must be an http:// or https:// URL", code="llm-url")
        try:
            timeout = float(os.environ.get("TAXVAULT_LLM_TIMEOUT", DEFAULT_TIMEOUT))
        except ValueError:
            raise Invalid("TAXVAULT_LLM_TIMEOUT must be a number of seconds", code="llm-timeout") from None
        return cls(url.rstrip("/"), model, os.environ.get("TAXVAULT_LLM_API_KEY") or None, timeout)

    @property
    def endpoint(self) -> str:
        base = self.url.removesuffix("/v1")
        return f"{base}/v1/chat/completions"


# --- what the model is told ------------------------------------------------------------------------


def vocabulary_text() -> str:
    """The vocabulary in words: sets, fields (type, coded values), relations. No data values."""
    lines = ["Record sets:"]
    for s in EntitySet:
        lines.append(f"- {s.value}: {SET_NOUN[s][1]}")
    lines.append("")
    lines.append("Fields (set.field: type, meaning[, known codes]):")
    for q, fd in FIELDS.items():
        if fd.sensitivity == "secret":
            continue
        codes = f"; codes: {', '.join(fd.values)}" if fd.values else ""
        lines.append(f"- {q}: {fd.type}, {fd.label}{codes}")
    lines.append("")
    lines.append("Relations (the only joins):")
    for r in RELATIONS:
        via = f" through {r.via}" if r.via else ""
        lines.append(f"- {r.left.value} -> {r.right.value}{via}")
    return "\n".join(lines)


_RULES = """\
You translate one question about tax records into a query plan: a JSON object that
follows the given JSON Schema exactly. You never see any records and you never answer
the question yourself; you only write the plan.

Rules:
- A plan either lists fields ("select") or computes "aggregates" (optionally with
  "group_by"), never both. "count" without a field counts the records of "source".
- Name fields as set.field from the vocabulary below, and nothing else.
- Filters all hold together (AND). Ops: =, !=, <, <=, >, >=, in (a list), between
  (a list of two: low, high, inclusive), contains (text only).
- Money is in integer cents ($10,000 is 1000000). Dates are YYYY-MM-DD. Tax years
  are integers ("last year" is the calendar year before today's).
- "order_by" names a selected or grouped field, or an aggregate's label (count,
  sum_wages, avg_refund, ...). "limit" is 1 to 1000 (top 10: limit 10).
- "having" keeps only the groups whose aggregate passes a threshold: {"by": an
  aggregate's label, "op", "value": a whole number, cents for money}. "States with
  more than 50 taxpayers": group_by taxpayers.state, having count > 50.
- Years of dates are fields of their own (notices.issued_year, cases.opened_year,
  transactions.posted_year, returns.filed_year, cases.closed_year): "notices per
  year" groups by notices.issued_year; "2025 vs 2026" filters it with "in" and
  groups by it. A bare year on returns and information returns is the tax year.
- "taxpayers", "people", "individuals" mean taxpayers.kind = "individual";
  "businesses", "employers" mean "business"; "entities" means every kind (no filter).
- A plan can only read. If the question asks to change, delete or send anything, or
  needs a field or relation that is not listed, refuse instead of guessing.
"""


def system_prompt(today: dt.date) -> str:
    """The instructions, the vocabulary and today's date: everything the model is told but the question."""
    return f"{_RULES}\nToday is {today.isoformat()}.\n\n{vocabulary_text()}\n"


def strict_schema() -> dict[str, Any]:
    """The plan's JSON Schema in the form strict structured output asks for.

    Strict mode wants every property listed as required and no defaults; optional
    values stay optional by allowing ``null`` or an empty list. The plan's own
    validation (pydantic) is what decides afterwards.
    """
    schema = copy.deepcopy(Plan.model_json_schema())

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            node.pop("default", None)
            if node.get("type") == "object" and isinstance(node.get("properties"), dict):
                node["required"] = list(node["properties"])
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema


def request_body(config: LlmConfig, question: str, today: dt.date) -> dict[str, Any]:
    """The chat completion request: system prompt, the question, the plan's schema as response format."""
    return {
        "model": config.model,
        "temperature": 0,
        "messages": [
            {"role": "system", "content": system_prompt(today)},
            {"role": "user", "content": question},
        ],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "plan", "schema": strict_schema(), "strict": True},
        },
    }


# --- asking ----------------------------------------------------------------------------------------


def _post(config: LlmConfig, body: dict[str, Any]) -> dict[str, Any]:
    data = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if config.api_key:
        headers["Authorization"] = f"Bearer {config.api_key}"
    req = urllib.request.Request(config.endpoint, data=data, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=config.timeout) as resp:  # noqa: S310 (http(s) only, checked)
            raw = resp.read(MAX_RESPONSE_BYTES + 1)
    except urllib.error.HTTPError as exc:
        log.warning("language model endpoint answered HTTP %s", exc.code)
        raise Unavailable(f"the language model endpoint answered HTTP {exc.code}", code="llm-http-error") from None
    except TimeoutError:
        raise Unavailable(
            f"the language model did not answer within {config.timeout:g} s", code="llm-timeout"
        ) from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError | socket.timeout):
            raise Unavailable(
                f"the language model did not answer within {config.timeout:g} s", code="llm-timeout"
            ) from None
        raise Unavailable("the language model endpoint cannot be reached", code="llm-unreachable") from None
    except OSError:
        raise Unavailable("the language model endpoint cannot be reached", code="llm-unreachable") from None
    if len(raw) > MAX_RESPONSE_BYTES:
        raise Unavailable("the language model's answer is too large", code="llm-bad-response")
    try:
        envelope = json.loads(raw)
    except ValueError:
        raise Unavailable("the language model endpoint did not answer with JSON", code="llm-bad-response") from None
    if not isinstance(envelope, dict):
        raise Unavailable("the language model endpoint's answer is not a chat completion", code="llm-bad-response")
    return envelope


def _unsupported(reason: str) -> Unsupported:
    return Unsupported(reason, NEAREST_FORMS)


def _message(envelope: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    choices = envelope.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise Unavailable("the language model endpoint's answer is not a chat completion", code="llm-bad-response")
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise Unavailable("the language model endpoint's answer is not a chat completion", code="llm-bad-response")
    finish = choices[0].get("finish_reason")
    return message, finish if isinstance(finish, str) else None


def _content_json(content: str) -> str:
    text = content.strip()
    if text.startswith("```") and text.endswith("```") and text.count("```") == 2:  # one fenced block only
        text = text[3:-3].strip()
        text = text.removeprefix("json").strip()
    return text


def interpret(envelope: dict[str, Any]) -> Plan | Unsupported:
    """A chat completion's plan, or Unsupported (refused, truncated, not JSON, not a valid plan)."""
    message, finish = _message(envelope)
    if message.get("refusal"):
        return _unsupported("the model refused")
    if finish == "length":
        return _unsupported("the model's answer was cut off")
    content = message.get("content")
    if not isinstance(content, str) or not content.strip():
        return _unsupported("the model gave no plan")
    try:
        data = json.loads(_content_json(content))
    except ValueError:
        return _unsupported("the model's answer is not JSON")
    if not isinstance(data, dict):
        return _unsupported("the model's answer is not a plan object")
    try:
        return Plan.model_validate(data)
    except ValidationError as exc:
        where = ", ".join(".".join(str(p) for p in e["loc"]) or "plan" for e in exc.errors()[:3])
        return _unsupported(f"the model's plan did not validate ({where})")


class LlmTranslator:
    """``translate(question, *, today) -> Plan | Unsupported`` over one configured endpoint."""

    name = "llm"

    def __init__(self, config: LlmConfig) -> None:
        self.config = config

    def __call__(self, question: str, *, today: dt.date) -> Plan | Unsupported:
        question = question.strip()
        if not question:
            raise Invalid("ask a question", code="empty-question")
        if len(question) > MAX_QUESTION:
            raise Invalid(f"a question is at most {MAX_QUESTION} characters", code="question-too-long")
        envelope = _post(self.config, request_body(self.config, question, today))
        result = interpret(envelope)
        if isinstance(result, Unsupported):
            log.info("language model plan not accepted: %s", result.reason)
        return result


def translate(question: str, *, today: dt.date) -> Plan | Unsupported:
    """The configured model's plan for ``question`` (same signature as the offline translator)."""
    return LlmTranslator(LlmConfig.from_env())(question, today=today)


__all__ = ["CANNOT_EXPRESS", "NEAREST_FORMS", "LlmConfig", "LlmTranslator", "Unsupported", "translate"]
