"""The catalog's query evaluation agrees with a direct reading of the query on every record (property test)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from pixlens.catalog.sqlite import SqliteCatalog
from pixlens.query import And, Node, Not, Or, Term, to_string
from pixlens.record import ImageRecord, Label, Status

NAMES = ["Dog", "Cat", "Car", "Person"]
OPS = [None, ">=", ">", "<=", "<"]

records = st.lists(
    st.dictionaries(st.sampled_from(NAMES), st.integers(min_value=55, max_value=100), max_size=4),
    min_size=0,
    max_size=12,
)
terms = st.builds(
    lambda name, op, threshold: Term(name.lower(), op=op, threshold=None if op is None else float(threshold)),
    st.sampled_from(NAMES),
    st.sampled_from(OPS),
    st.integers(min_value=50, max_value=100),
)
queries: st.SearchStrategy[Node] = st.recursive(
    terms,
    lambda inner: st.one_of(
        st.builds(Not, inner),
        st.builds(lambda items: And(tuple(items)), st.lists(inner, min_size=2, max_size=3)),
        st.builds(lambda items: Or(tuple(items)), st.lists(inner, min_size=2, max_size=3)),
    ),
    max_leaves=6,
)


def matches(node: Node, labels: dict[str, int]) -> float | None:
    """The score of one image for a query, or None when it does not match (the documented semantics)."""
    if isinstance(node, Term):
        confidence = labels.get(node.value.title())
        if confidence is None:
            return None
        passes = {
            None: True,
            ">=": confidence >= (node.threshold or 0),
            ">": confidence > (node.threshold or 0),
            "<=": confidence <= (node.threshold or 0),
            "<": confidence < (node.threshold or 0),
        }[node.op]
        return float(confidence) if passes else None
    if isinstance(node, Not):
        return 0.0 if matches(node.operand, labels) is None else None
    if isinstance(node, Or):
        scores = [s for s in (matches(o, labels) for o in node.operands) if s is not None]
        return max(scores) if scores else None
    positive = [o for o in node.operands if not isinstance(o, Not)]
    negative = [o for o in node.operands if isinstance(o, Not)]
    if any(matches(o, labels) is None for o in negative):
        return None
    scores = [matches(o, labels) for o in positive]
    if any(s is None for s in scores):
        return None
    return sum(s for s in scores if s is not None) / len(scores) if scores else 0.0


@settings(max_examples=150, deadline=None)
@given(records, queries)
def test_search_equals_the_direct_reading(images: list[dict[str, int]], query: Node) -> None:
    with tempfile.TemporaryDirectory() as folder:
        catalog = SqliteCatalog(Path(folder) / "c.db")
        try:
            catalog.put(
                ImageRecord(
                    ImageName=f"{i:02d}.jpg",
                    Status=Status.ANALYZED,
                    Labels=[Label(Name=name, Confidence=conf) for name, conf in labels.items()],
                )
                for i, labels in enumerate(images)
            )

            def resolve(term: Term) -> list[str]:
                return [term.value.title()]

            hits, total = catalog.page(query, resolve, limit=100)
            expected = {
                f"{i:02d}.jpg": score
                for i, labels in enumerate(images)
                if (score := matches(query, labels)) is not None
            }
            assert {hit.key: hit.score for hit in hits} == {k: round(v, 2) for k, v in expected.items()}, to_string(
                query
            )
            assert total == len(expected) == catalog.count(query, resolve)
            assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
        finally:
            catalog.close()
