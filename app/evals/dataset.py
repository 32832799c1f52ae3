"""The eval dataset: YAML cases, checked on load (`load_dataset(path)`).

A case is a scripted conversation:

    - id: compound-cancel-and-refund
      checks: every risky action gets its own approval; the final answer reports both
      tags: [compound]
      user: eval-user                 # the run's user id (a shop customer id sees only their orders)
      turns:
        - say: Cancel order 1016 and refund 10 EUR of order 1006
          intents: [order_change, refund]            # the intent events, in order
          agents: [order_actions, billing]            # their agents (optional)
          tools:                                      # every call made (run or proposed), with args
            - {tool: get_order_status, args: {order_id: "1016"}}
            - {tool: cancel_order, args: {order_id: "1016"}}
          approvals:                                  # each interrupt, in order, and what to answer
            - {action: cancel_order, args: {order_id: "1016"}, approver: customer, decide: approve}
          handoff: false
          answer_contains: ["1016", "cancelled"]
          answer_excludes: ["not found"]

A key left out is not checked. `decide` is approve, reject, edit (with `edit_args`)
or pending (leave it waiting; the next turn supersedes it, as a new message does on
the server). Every error names the file, the case and the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = ["DEFAULT_DATASET", "Approval", "Call", "Case", "DatasetError", "Turn", "load_dataset", "parse_dataset"]

DEFAULT_DATASET = Path(__file__).resolve().parent / "datasets" / "shipped.yaml"


class DatasetError(ValueError):
    """The dataset file is malformed; the message names the file, the case and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Call(_Strict):
    tool: str
    args: dict[str, Any] | None = None
    """None: only the tool name is checked."""


class Approval(_Strict):
    action: str
    args: dict[str, Any] | None = None
    approver: Literal["customer", "operator"] | None = None
    decide: Literal["approve", "reject", "edit", "pending"] = "approve"
    edit_args: dict[str, Any] | None = None
    reason: str | None = None

    @model_validator(mode="after")
    def _edit_needs_args(self) -> Approval:
        if self.decide == "edit" and not self.edit_args:
            raise ValueError("decide: edit needs edit_args (the arguments the approver sets)")
        return self


class Turn(_Strict):
    say: str = Field(min_length=1)
    intents: list[str] | None = None
    agents: list[str] | None = None
    tools: list[Call] | None = None
    approvals: list[Approval] | None = None
    handoff: bool | None = None
    answer_contains: list[str] = Field(default_factory=list)
    answer_excludes: list[str] = Field(default_factory=list)


class Case(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,79}$")
    checks: str = Field(min_length=3, description="What the case checks, in a sentence.")
    tags: list[str] = Field(default_factory=list)
    user: str = "eval-user"
    turns: list[Turn] = Field(min_length=1)


def parse_dataset(raw: Any, source: str = "<data>") -> list[Case]:
    if isinstance(raw, dict) and "cases" in raw:
        raw = raw["cases"]
    if not isinstance(raw, list) or not raw:
        raise DatasetError(f"{source}: expected a non-empty list of cases (or a mapping with `cases`)")
    cases: list[Case] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        name = item.get("id") if isinstance(item, dict) else None
        where = f"{source}: case {name!r}" if name else f"{source}: cases[{index}]"
        try:
            case = Case.model_validate(item)
        except ValidationError as exc:
            problems = "; ".join(
                f"key `{'.'.join(str(p) for p in e['loc'])}`: {e['msg']}" for e in exc.errors()
            )
            raise DatasetError(f"{where}: {problems}") from None
        if case.id in seen:
            raise DatasetError(f"{where}: key `id`: {case.id!r} is used twice; ids must be unique")
        seen.add(case.id)
        cases.append(case)
    return cases


def load_dataset(path: str | Path | None = None) -> list[Case]:
    """Read and check a dataset file (default: the shipped set)."""
    path = Path(path) if path is not None else DEFAULT_DATASET
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found; pass the path of an eval dataset (YAML)") from None
    except yaml.YAMLError as exc:
        raise DatasetError(f"{path}: not valid YAML: {exc}") from None
    return parse_dataset(raw, str(path))
