"""Safe loading of an OpenAPI document: bytes of JSON or YAML in, plain data out.

`load_document(raw, content_type)` parses JSON or YAML safely: a size cap, YAML's
safe loader only, and two budgets that count every alias as the whole subtree it
stands for: nodes, and parsed bytes (every scalar's text each time an alias repeats
it, so one long string aliased a thousand times counts a thousand times). An alias
bomb ("billion laughs", of lists or of long strings) is refused before anything is
built from it. Recursive aliases and absurd nesting are refused too.

`SpecError` (a `BadRequest`) is the refusal of every stage of an import, loading
and parsing (`parse.py`) alike: its message says where in the document the problem
is, what is wrong and what to do.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from app.core.errors import BadRequest

__all__ = ["MAX_DEPTH", "SpecError", "load_document"]

MAX_DEPTH = 200  # nesting of the document itself; real specs stay under 40


class SpecError(BadRequest):
    """The document cannot be imported; the message says where and why."""


class _Loader(yaml.SafeLoader):
    """The safe loader; the only change is that we compose first and check the graph."""


class _FastLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """libyaml's parser with the same safe constructor: several times faster on big documents.

    Its composer recurses in C without Python's recursion limit, so a document nested
    deep enough crashes the process instead of raising. It is only used when
    `_nesting_bound` proves the nesting shallow; anything else goes to `_Loader`,
    whose recursion ends in a RecursionError we turn into a refusal.
    """


C_LOADER_MAX_NESTING = 1000


def _nesting_bound(text: str) -> int:
    """An upper bound on how deep a YAML text can nest, cheap to compute.

    A nested block node sits at a greater column than its parent (compact "- - x"
    sequences take two columns a level), so the widest indentation bounds block
    nesting; every flow level needs an unclosed bracket. Brackets inside strings
    only make the bound looser, which is safe.
    """
    widest = max((len(line) - len(line.lstrip(" -?:")) for line in text.splitlines()), default=0)
    depth = deepest = 0
    for ch in re.sub(r"[^\[\]{}]+", "", text):
        depth = depth + 1 if ch in "[{" else max(0, depth - 1)
        deepest = max(deepest, depth)
    return widest + deepest + 1


def load_document(
    raw: bytes | str,
    content_type: str | None = None,
    *,
    max_bytes: int = 5 * 1024 * 1024,
    max_nodes: int = 1_000_000,
    max_parsed_bytes: int = 16 * 1024 * 1024,
) -> Any:
    """Parse JSON or YAML text into plain data, refusing what could hurt the server.

    JSON has no aliases, so its parsed size is bounded by `max_bytes`; YAML's is
    checked against `max_parsed_bytes` on the composed node graph, before construction.
    """
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > max_bytes:
        raise SpecError(
            f"the document is {size:,} bytes, over the limit of {max_bytes:,} (OPENAPI_MAX_BYTES); "
            "split the spec or raise the limit"
        )
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise SpecError(
                f"the document is not UTF-8 text (byte {exc.start}): save it as UTF-8 JSON or YAML"
            ) from None
    else:
        text = raw
    if not text.strip():
        raise SpecError("the document is empty: send an OpenAPI document as JSON or YAML")
    ctype = (content_type or "").split(";")[0].strip().lower()
    looks_json = text.lstrip()[:1] in ("{", "[")
    if ctype.endswith("json") or (looks_json and "yaml" not in ctype):
        try:
            data = json.loads(text)
        except RecursionError:
            raise SpecError(
                f"the JSON document is nested too deeply (limit {MAX_DEPTH} levels)"
            ) from None
        except json.JSONDecodeError as exc:
            if ctype.endswith("json"):
                raise SpecError(
                    f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}; "
                    "fix the document or send YAML as application/yaml"
                ) from None
        else:
            _check_data_shape(data, max_nodes)
            return data
    return _load_yaml(text, max_nodes, max_parsed_bytes)


def _load_yaml(text: str, max_nodes: int, max_parsed_bytes: int) -> Any:
    fast = _nesting_bound(text) <= C_LOADER_MAX_NESTING
    loader = _FastLoader(text) if fast else _Loader(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise SpecError(
                f"the YAML document is nested too deeply (limit {MAX_DEPTH} levels)"
            ) from None
        except yaml.YAMLError as exc:
            raise SpecError(f"invalid YAML: {_yaml_problem(exc)}") from None
        if node is None:
            raise SpecError("the document is empty: send an OpenAPI document as JSON or YAML")
        _check_node_graph(node, max_nodes, max_parsed_bytes)
        try:
            return loader.construct_document(node)
        except yaml.YAMLError as exc:
            # e.g. `!!python/object`: the safe loader builds plain data only
            raise SpecError(f"invalid YAML: {_yaml_problem(exc)}") from None
    finally:
        loader.dispose()


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    return f"{problem}{where}"


def _node_children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _check_node_graph(root: yaml.Node, max_nodes: int, max_parsed_bytes: int) -> None:
    """Refuse alias bombs, recursive aliases and deep nesting before construction.

    An alias is the same node object reached twice, so the size of a node (in nodes
    and in parsed bytes: its scalars' text plus a byte per node) is memoised by
    identity: the walk visits each distinct node once, however many times aliases
    repeat it, while the sizes add up to the fully expanded document. Time and memory
    are linear in the text, whatever it expands to.
    """
    sizes: dict[int, tuple[int, int]] = {}  # node -> (nodes, parsed bytes) once expanded
    open_nodes: set[int] = set()  # ancestors of the node being visited
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            open_nodes.discard(key)
            children = _node_children(node)
            total = 1 + sum(sizes[id(c)][0] for c in children)
            own = len(node.value) if isinstance(node, yaml.ScalarNode) else 0
            weight = 1 + own + sum(sizes[id(c)][1] for c in children)
            if total > max_nodes:
                raise SpecError(
                    f"the YAML document expands to more than {max_nodes:,} nodes once its aliases (*name) are "
                    f"followed (from line {node.start_mark.line + 1}); this is how an alias bomb looks, so it is "
                    "refused. Send the document without repeated aliases, or raise OPENAPI_MAX_NODES"
                )
            if weight > max_parsed_bytes:
                raise SpecError(
                    f"the YAML document expands to more than {max_parsed_bytes:,} bytes once its aliases (*name) "
                    f"are followed (from line {node.start_mark.line + 1}): a string or subtree repeated by aliases "
                    "counts each time it is repeated, and this much is an alias bomb, so it is refused. Send the "
                    "document without repeated aliases, or raise OPENAPI_MAX_PARSED_BYTES"
                )
            sizes[key] = (total, weight)
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            raise SpecError(
                f"the YAML document contains a recursive alias (an anchor used inside itself, line "
                f"{node.start_mark.line + 1}); OpenAPI documents cannot be infinite: remove the alias"
            )
        open_nodes.add(key)
        if len(open_nodes) > MAX_DEPTH:
            raise SpecError(
                f"the YAML document is nested more than {MAX_DEPTH} levels deep; flatten it"
            )
        stack.append((node, True))
        stack.extend((c, False) for c in _node_children(node))


def _check_data_shape(data: Any, max_nodes: int) -> None:
    count = 0
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        count += 1
        if count > max_nodes:
            raise SpecError(
                f"the document has more than {max_nodes:,} nodes (OPENAPI_MAX_NODES); split it"
            )
        if depth > MAX_DEPTH:
            raise SpecError(f"the document is nested more than {MAX_DEPTH} levels deep; flatten it")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
