"""A parsed query as one SQL statement over ``label_index`` that yields ``(id, score)`` rows.

Shared by the SQL catalogs. A term is an index range read (the index holds parents, so "vehicle" needs no
expansion into its children); AND is a join, OR a union, NOT an anti-join. The score of a hit is the mean
confidence of the terms it matched, so an AND ranks images that are sure of every term first.
"""

from __future__ import annotations

from typing import Any

from pixlens.catalog.base import Resolver
from pixlens.query import And, Node, Not, Or, Term

OPERATORS = {">=": ">=", ">": ">", "<=": "<=", "<": "<"}
EMPTY = "SELECT NULL AS id, 0.0 AS score WHERE 0"
# Images with an analysis: analysed ones, and changed ones whose earlier analysis stays searchable while pending.
ALL_ANALYZED = "SELECT id, 0.0 AS score FROM images WHERE has_analysis = 1"


def compile_query(node: Node, resolve: Resolver, placeholder: str = "?") -> tuple[str, list[Any]]:
    params: list[Any] = []
    sql = _compile(node, resolve, params, placeholder)
    return sql, params


def positive_entries(node: Node, resolve: Resolver) -> list[str]:
    """Index entries of the terms that are not negated: what a hit reports as matched."""
    if isinstance(node, Term):
        return resolve(node)
    if isinstance(node, Not):
        return []
    entries: list[str] = []
    for operand in node.operands:
        entries.extend(e for e in positive_entries(operand, resolve) if e not in entries)
    return entries


def _compile(node: Node, resolve: Resolver, params: list[Any], ph: str) -> str:
    if isinstance(node, Term):
        return _term(node, resolve(node), params, ph)
    if isinstance(node, Not):
        inner = _compile(node.operand, resolve, params, ph)
        return f"{ALL_ANALYZED} AND id NOT IN (SELECT id FROM ({inner}) AS n)"
    if isinstance(node, Or):
        parts = [_compile(operand, resolve, params, ph) for operand in node.operands]
        union = " UNION ALL ".join(f"SELECT id, score FROM ({part}) AS u{i}" for i, part in enumerate(parts))
        return f"SELECT id, MAX(score) AS score FROM ({union}) AS o GROUP BY id"
    return _and(node, resolve, params, ph)


def _and(node: And, resolve: Resolver, params: list[Any], ph: str) -> str:
    positives = [operand for operand in node.operands if not isinstance(operand, Not)]
    negatives = [operand.operand for operand in node.operands if isinstance(operand, Not)]
    parts = [_compile(operand, resolve, params, ph) for operand in positives] or [ALL_ANALYZED]
    sql = f"SELECT a0.id AS id, ({' + '.join(f'a{i}.score' for i in range(len(parts)))}) / {len(parts)}.0 AS score"
    sql += f" FROM ({parts[0]}) AS a0"
    for i, part in enumerate(parts[1:], start=1):
        sql += f" JOIN ({part}) AS a{i} ON a{i}.id = a0.id"
    for j, negative in enumerate(negatives):
        inner = _compile(negative, resolve, params, ph)
        sql += " WHERE" if j == 0 else " AND"
        sql += f" a0.id NOT IN (SELECT id FROM ({inner}) AS n{j})"
    return sql


def _term(term: Term, entries: list[str], params: list[Any], ph: str) -> str:
    if not entries:
        return EMPTY
    condition = f"label = {ph}" if len(entries) == 1 else f"label IN ({', '.join([ph] * len(entries))})"
    params.extend(entries)
    if term.op is None or term.threshold is None:
        if len(entries) == 1:
            return f"SELECT image_id AS id, confidence AS score FROM label_index WHERE {condition}"
        return f"SELECT image_id AS id, MAX(confidence) AS score FROM label_index WHERE {condition} GROUP BY image_id"
    params.append(term.threshold)
    if len(entries) == 1:
        return (
            f"SELECT image_id AS id, confidence AS score FROM label_index"
            f" WHERE {condition} AND confidence {OPERATORS[term.op]} {ph}"
        )
    return (
        f"SELECT image_id AS id, MAX(confidence) AS score FROM label_index WHERE {condition}"
        f" GROUP BY image_id HAVING MAX(confidence) {OPERATORS[term.op]} {ph}"
    )
