"""Records built by hand, and the helpers that search a catalog through its port: shared by the catalog tests
(``test_catalog_port.py`` runs on every catalog; ``test_catalog.py`` checks the SQLite adapter's own tables)."""

from __future__ import annotations

import numpy as np

from pixlens.catalog.base import Catalog, Hit, Resolver
from pixlens.query import Term, parse
from pixlens.record import ImageRecord, Label, NameRef, Status


def label(name: str, confidence: float, parents: tuple[str, ...] = (), categories: tuple[str, ...] = ()) -> Label:
    return Label(
        Name=name,
        Confidence=confidence,
        Parents=[NameRef(Name=p) for p in parents],
        Categories=[NameRef(Name=c) for c in categories],
    )


def record(
    key: str, *labels: Label, status: Status = Status.ANALYZED, etag: str | None = "e1", error: str | None = None
) -> ImageRecord:
    return ImageRecord(
        ImageName=key,
        Status=status,
        ETag=etag,
        Error=error,
        ContentSha256="sha-" + key,
        AnalyzedAt="2026-01-01T00:00:00Z" if status is not Status.PENDING else None,
        AnalyzerVersions={"labels": "test-1"},
        Labels=list(labels),
    )


def resolver(catalog: Catalog) -> Resolver:
    """A resolver without the taxonomy: a word matches the catalog label of that name, in any case."""
    names = {name.casefold(): name for name in catalog.label_names()}

    def resolve(term: Term) -> list[str]:
        found = names.get(term.value.casefold())
        return [found] if found is not None else []

    return resolve


def find(catalog: Catalog, query: str, limit: int = 100, offset: int = 0) -> list[Hit]:
    return catalog.search(parse(query), resolver(catalog), limit=limit, offset=offset)


def keys(hits: list[Hit]) -> list[str]:
    return [hit.key for hit in hits]


def count(catalog: Catalog, query: str) -> int:
    return catalog.count(parse(query), resolver(catalog))


def label_counts(catalog: Catalog) -> dict[str, int]:
    return dict(catalog.labels())


def fill(catalog: Catalog) -> Catalog:
    """Six images: a dog with a person, a cat, a dog with a cat, a person, an empty analysis, a failure."""
    catalog.put(
        [
            record("a.jpg", label("Dog", 90.0), label("Person", 72.0)),
            record("b.jpg", label("Cat", 80.0)),
            record("c.jpg", label("Dog", 60.0), label("Cat", 95.0)),
            record("d.jpg", label("Person", 99.0)),
            record("e.jpg"),
            record("f.jpg", status=Status.FAILED, error="not an image"),
        ]
    )
    return catalog


def unit(seed: int, dimensions: int = 64) -> list[float]:
    vector = np.random.default_rng(seed).normal(size=dimensions)
    return [float(x) for x in vector / np.linalg.norm(vector)]


def near(vector: list[float], seed: int, spread: float = 0.05) -> list[float]:
    noisy = np.asarray(vector) + spread * np.random.default_rng(seed).normal(size=len(vector))
    return [float(x) for x in noisy / np.linalg.norm(noisy)]
