"""The catalog's own rules, shared by the SQL catalogs (``pixlens check``): each is what is wrong, as a sentence,
and a query counting the rows where it is. A catalog adds the rules of its own tables."""

from __future__ import annotations

from collections.abc import Callable

Rule = tuple[str, str]

RULES: list[Rule] = [
    (
        "label counts that disagree with the label index",
        """SELECT COUNT(*) FROM (
               SELECT label, images FROM label_counts
               EXCEPT SELECT label, CAST(COUNT(*) AS INTEGER) FROM label_index GROUP BY label
           ) AS wrong""",
    ),
    (
        "labels in the index without a count",
        "SELECT COUNT(DISTINCT label) FROM label_index WHERE label NOT IN (SELECT label FROM label_counts)",
    ),
    (
        "index entries of images that do not exist",
        "SELECT COUNT(*) FROM label_index WHERE image_id NOT IN (SELECT id FROM images)",
    ),
    (
        "embeddings of images that do not exist",
        "SELECT COUNT(*) FROM embeddings WHERE image_id NOT IN (SELECT id FROM images)",
    ),
    ("faces of images that do not exist", "SELECT COUNT(*) FROM faces WHERE image_id NOT IN (SELECT id FROM images)"),
    ("faces of people that do not exist", "SELECT COUNT(*) FROM faces WHERE person_id NOT IN (SELECT id FROM people)"),
    (
        "people whose number of faces is wrong",
        """SELECT COUNT(*) FROM people AS p
           WHERE p.faces != (SELECT COUNT(*) FROM faces AS f WHERE f.person_id = p.id)""",
    ),
]


def broken_rules(
    count: Callable[[str], int], rules: list[Rule], undecided: tuple[type[Exception], ...] = ()
) -> list[str]:
    """Each broken rule with the number of rows that break it; a rule whose query fails with one of ``undecided``
    (a damaged table) is said to be undecided, and the others still run."""
    found = []
    for what, sql in rules:
        try:
            broken = count(sql)
        except undecided as exc:
            found.append(f"{what}: cannot tell ({exc})")
            continue
        if broken:
            found.append(f"{what}: {broken}")
    return found
