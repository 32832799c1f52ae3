"""Evals: scripted conversations run through the real graph, scored, reported (`support-agent eval`).

One module per concept: `dataset` (load and check the YAML cases), `runner` (play
a case over the compiled graph with an in-memory or Postgres checkpointer and the
demo shop in-process, deciding approvals as the case says), `checks` (score one
turn against its expectation), `report` (metrics, terminal table, JSON, Markdown,
`--compare`), `export` (turn a logged conversation into a case). docs/evals.md
explains how to use them.
"""

from app.evals.dataset import DEFAULT_DATASET, Case, DatasetError, load_dataset

__all__ = ["DEFAULT_DATASET", "Case", "DatasetError", "load_dataset"]
