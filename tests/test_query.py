"""The search query parser: trees, precedence, errors with positions, round trips, fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from pixlens.errors import QueryError
from pixlens.query import (
    KNOWN_FIELDS,
    MAX_DEPTH,
    MAX_QUERY_LENGTH,
    And,
    Node,
    Not,
    Or,
    Term,
    parse,
    terms,
    to_string,
)

FIELDS = frozenset({"label", "category", "text", "color"})


def t(value: str, field: str = "label", op: str | None = None, threshold: float | None = None) -> Term:
    return Term(value, field, op, threshold)


# --- constructs -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("dog", t("dog")),
        ("  Dog  ", t("Dog")),
        ("cars", t("cars")),
        ("t-shirt", t("t-shirt")),
        ("children's", t("children's")),
        ("hot_dog", t("hot_dog")),
        ("7up", t("7up")),
        ("café", t("café")),
        ("Straße", t("Straße")),
        ("cafe\u0301", t("cafe\u0301")),
        ("猫", t("猫")),
        ('"teddy bear"', t("teddy bear")),
        ('"  teddy \t  bear "', t("teddy bear")),
        ('"and"', t("and")),
        ('"NOT"', t("NOT")),
        ('"dog"', t("dog")),
        ('"a (b) > c"', t("a (b) > c")),
        ("dog>=80", t("dog", op=">=", threshold=80.0)),
        ("dog>80", t("dog", op=">", threshold=80.0)),
        ("dog<=40", t("dog", op="<=", threshold=40.0)),
        ("dog<40", t("dog", op="<", threshold=40.0)),
        ("dog >= 80", t("dog", op=">=", threshold=80.0)),
        ("dog>=62.5", t("dog", op=">=", threshold=62.5)),
        ("dog>=.5", t("dog", op=">=", threshold=0.5)),
        ("dog>=0", t("dog", op=">=", threshold=0.0)),
        ("dog>=100", t("dog", op=">=", threshold=100.0)),
        ("dog>=100.0", t("dog", op=">=", threshold=100.0)),
        ("dog>=-0", t("dog", op=">=", threshold=0.0)),
        ('"teddy bear">=60', t("teddy bear", op=">=", threshold=60.0)),
        ("label:dog", t("dog")),
        ("LABEL:Dog", t("Dog")),
        ("category:animal", t("animal", "category")),
        ('category:"street sign"', t("street sign", "category")),
        ("category:animal>=50", t("animal", "category", ">=", 50.0)),
        ("label:and", t("and")),
    ],
)
def test_single_terms(query: str, expected: Term) -> None:
    assert parse(query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("text:invoice", t("invoice", "text")),
        ('text:"open 24 hours"', t("open 24 hours", "text")),
        ("color:red", t("red", "color")),
        ("Color:Red", t("Red", "color")),
    ],
)
def test_fields_given_by_the_caller(query: str, expected: Term) -> None:
    assert parse(query, FIELDS) == expected


def test_fields_are_compared_case_insensitively() -> None:
    assert parse("text:x", frozenset({"TEXT"})) == t("x", "text")


def test_known_fields() -> None:
    assert frozenset({"label", "category"}) == KNOWN_FIELDS


def test_positions() -> None:
    node = parse('dog  -"teddy bear">=60 OR category:animal')
    assert isinstance(node, Or)
    assert [term.position for term in terms(node)] == [0, 6, 26]


def test_position_is_not_part_of_equality() -> None:
    assert Term("dog", position=3) == Term("dog", position=0)
    assert hash(Term("dog", position=3)) == hash(Term("dog"))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("dog AND cat", And((t("dog"), t("cat")))),
        ("dog and cat", And((t("dog"), t("cat")))),
        ("dog cat", And((t("dog"), t("cat")))),
        ("dog OR cat", Or((t("dog"), t("cat")))),
        ("dog or cat", Or((t("dog"), t("cat")))),
        ("NOT cat", Not(t("cat"))),
        ("not cat", Not(t("cat"))),
        ("-cat", Not(t("cat"))),
        ('-"teddy bear"', Not(t("teddy bear"))),
        ("-dog>=80", Not(t("dog", op=">=", threshold=80.0))),
        ("-category:animal", Not(t("animal", "category"))),
        ("dog -cat", And((t("dog"), Not(t("cat"))))),
        ("dog AND NOT cat", And((t("dog"), Not(t("cat"))))),
        ("dog NOT cat", And((t("dog"), Not(t("cat"))))),
        ("NOT NOT cat", Not(Not(t("cat")))),
        ("-(dog OR cat)", Not(Or((t("dog"), t("cat"))))),
        (
            "(cat OR dog) AND NOT person",
            And((Or((t("cat"), t("dog"))), Not(t("person")))),
        ),
        ("a b c", And((t("a"), t("b"), t("c")))),
        ("a AND (b AND c)", And((t("a"), t("b"), t("c")))),
        ("(a b) c", And((t("a"), t("b"), t("c")))),
        ("a OR (b OR c) OR d", Or((t("a"), t("b"), t("c"), t("d")))),
        ("((dog))", t("dog")),
        ('dog"cat"', And((t("dog"), t("cat")))),
    ],
)
def test_boolean(query: str, expected: Node) -> None:
    assert parse(query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # NOT binds tighter than AND
        ("NOT a AND b", And((Not(t("a")), t("b")))),
        ("-a b", And((Not(t("a")), t("b")))),
        # AND binds tighter than OR
        ("a OR b AND c", Or((t("a"), And((t("b"), t("c")))))),
        ("a AND b OR c", Or((And((t("a"), t("b"))), t("c")))),
        # implicit AND is the same AND
        ("a b OR c", Or((And((t("a"), t("b"))), t("c")))),
        ("a OR b c", Or((t("a"), And((t("b"), t("c")))))),
        ("NOT a OR b", Or((Not(t("a")), t("b")))),
        ("NOT a b OR NOT c d", Or((And((Not(t("a")), t("b"))), And((Not(t("c")), t("d")))))),
        # parentheses override
        ("a AND (b OR c)", And((t("a"), Or((t("b"), t("c")))))),
        ("NOT (a AND b)", Not(And((t("a"), t("b"))))),
    ],
)
def test_precedence(query: str, expected: Node) -> None:
    assert parse(query) == expected


def test_implicit_and_equals_explicit_and() -> None:
    assert parse("dog cat") == parse("dog AND cat")
    assert parse('dog "teddy bear" -cat') == parse('dog AND "teddy bear" AND NOT cat')


def test_terms_left_to_right() -> None:
    node = parse("(a OR -b) c AND NOT (d OR e>=5)")
    assert [term.value for term in terms(node)] == ["a", "b", "c", "d", "e"]


def test_and_or_need_two_operands() -> None:
    with pytest.raises(ValueError):
        And((t("a"),))
    with pytest.raises(ValueError):
        Or(())


# --- errors -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "position", "fragment"),
    [
        ("", 0, "empty query"),
        ("   \t", 0, "empty query"),
        ("(dog", 0, "unmatched '('"),
        ("((dog)", 0, "unmatched '('"),
        ("dog (cat OR (bird)", 4, "unmatched '('"),
        ("dog)", 3, "unmatched ')'"),
        ("(dog))", 5, "unmatched ')'"),
        (")dog(", 0, "unmatched ')'"),
        ("dog AND", 4, "AND needs a term after it"),
        ("dog OR", 4, "OR needs a term after it"),
        ("OR cat", 0, "OR needs a term before it"),
        ("AND", 0, "AND needs a term before it"),
        ("and", 0, '"and"'),
        ("dog AND OR cat", 4, "AND needs a term after it"),
        ("dog OR AND cat", 4, "OR needs a term after it"),
        ("(AND dog)", 1, "AND needs a term before it"),
        ("(dog OR)", 5, "OR needs a term after it"),
        ("NOT", 0, "NOT needs a term after it"),
        ("dog NOT", 4, "NOT needs a term after it"),
        ("NOT NOT", 4, "NOT needs a term after it"),
        ("NOT OR dog", 0, "NOT needs a term after it"),
        ("-and", 0, "'-' needs a term after it"),
        ("()", 0, "empty parentheses"),
        ("dog ()", 4, "empty parentheses"),
        ("-()", 1, "empty parentheses"),
        ("-", 0, "'-'"),
        ("dog -", 4, "'-'"),
        ("dog - cat", 4, "'-'"),
        ("--dog", 0, "'-'"),
        ("dog>=", 5, "missing threshold"),
        ("dog>= ", 6, "missing threshold"),
        ("dog>=)", 5, "missing threshold"),
        ("dog>=abc", 5, "must be a number"),
        ("dog >= abc", 7, "must be a number"),
        ("dog>=80abc", 5, "must be a number"),
        ("dog>=80.", 5, "must be a number"),
        ("dog>=1e2", 5, "must be a number"),
        ("dog>=nan", 5, "must be a number"),
        ("dog>=150", 5, "between 0 and 100"),
        ("dog>=100.5", 5, "between 0 and 100"),
        ("dog>=-5", 5, "between 0 and 100"),
        ('"teddy bear">=101', 14, "between 0 and 100"),
        (">=80", 0, "must directly follow a label"),
        ("dog AND >=80", 8, "must directly follow a label"),
        ("(dog OR cat)>=80", 12, "cannot apply to a group"),
        ("dog>=50<=80", 7, "only one threshold"),
        ("xyz:dog", 0, "unknown field 'xyz' (known: category, label)"),
        ("dog text:invoice", 4, "unknown field 'text'"),
        ("label:", 6, "must be directly followed"),
        ("label: dog", 6, "must be directly followed"),
        ("label:-dog", 6, "must be directly followed"),
        ("label:(dog)", 6, "must be directly followed"),
        ('"teddy bear', 0, "unterminated quote"),
        ('dog "teddy bear', 4, "unterminated quote"),
        ('"a" "b', 4, "unterminated quote"),
        ('""', 0, "empty quoted label"),
        ('dog "   "', 4, "empty quoted label"),
        ("dog $", 4, "unexpected character '$'"),
        ("dog=80", 3, ">="),
        ("dog && cat", 4, "AND"),
        ("dog || cat", 4, "OR"),
        ("!dog", 0, "NOT"),
        ("\u201cteddy bear\u201d", 0, "straight double quotes"),
        ("dog: cat", 0, "unknown field 'dog'"),
        ('"dog":cat', 5, "unexpected character ':'"),
        ("label:dog:cat", 9, "unexpected character ':'"),
        ("dog\x00", 3, "unexpected character"),
    ],
)
def test_errors(query: str, position: int, fragment: str) -> None:
    with pytest.raises(QueryError) as info:
        parse(query)
    error = info.value
    assert error.position == position, error.pointer()
    assert fragment in error.message
    assert error.query == query


def test_unknown_field_lists_the_given_fields() -> None:
    with pytest.raises(QueryError, match=r"unknown field 'size' \(known: color, text\)"):
        parse("size:big", frozenset({"text", "color"}))


def test_too_long() -> None:
    ok = "a " * (MAX_QUERY_LENGTH // 2)
    assert len(ok) == MAX_QUERY_LENGTH
    parse(ok)
    with pytest.raises(QueryError, match="too long") as info:
        parse(ok + "b")
    assert info.value.position == MAX_QUERY_LENGTH


def test_nesting_limit_parentheses() -> None:
    parse("(" * MAX_DEPTH + "dog" + ")" * MAX_DEPTH)
    query = "(" * (MAX_DEPTH + 1) + "dog" + ")" * (MAX_DEPTH + 1)
    with pytest.raises(QueryError, match="nested too deeply") as info:
        parse(query)
    assert info.value.position == MAX_DEPTH


def test_nesting_limit_not() -> None:
    parse("NOT " * MAX_DEPTH + "dog")
    with pytest.raises(QueryError, match="nested too deeply") as info:
        parse("-(" * MAX_DEPTH + "dog" + ")" * MAX_DEPTH)
    assert info.value.position == MAX_DEPTH  # the 33rd opener, a "-"
    with pytest.raises(QueryError, match="nested too deeply") as info:
        parse("NOT " * (MAX_DEPTH + 1) + "dog")
    assert info.value.position == 4 * MAX_DEPTH


def test_many_siblings_are_not_nesting() -> None:
    node = parse(" ".join(f"-(a{i})" for i in range(100)))
    assert isinstance(node, And)
    assert len(node.operands) == 100


def test_pointer() -> None:
    with pytest.raises(QueryError) as info:
        parse("dog>=150")
    assert info.value.pointer().splitlines()[-1] == "       ^"


# --- round trip -------------------------------------------------------------------------------------------

ROUND_TRIP = [
    "dog",
    "Dog",
    "dog cat",
    "dog AND cat OR bird",
    "dog OR cat AND bird",
    "(dog OR cat) AND NOT person",
    "NOT cat",
    "NOT NOT cat",
    "-(a OR b) c",
    "NOT (a b)",
    "(a OR b) (c OR d) OR e",
    "((a OR b) c) OR d",
    '"teddy bear">=60',
    '"  teddy   bear  "',
    '"and" "or" "NOT"',
    '"-dog"',
    '"dog:cat"',
    '"a (b)"',
    "dog>=80 cat<40.25 bird>0.5 fish<=.125",
    "dog>=0.00001",
    "dog>=99.99999999999999",
    "dog>=+7",
    "label:dog category:animal",
    'category:"street sign">=10',
    "t-shirt children's hot_dog café 猫",
    "cafe\u0301",
    "'tis",
]


@pytest.mark.parametrize("query", ROUND_TRIP)
def test_round_trip(query: str) -> None:
    node = parse(query)
    text = to_string(node)
    assert parse(text) == node
    assert to_string(parse(text)) == text


@pytest.mark.parametrize(
    ("query", "canonical"),
    [
        ("dog cat", "dog AND cat"),
        ("-dog", "NOT dog"),
        ("dog  or  (cat and bird)", "dog OR cat AND bird"),
        ("(dog or cat) bird", "(dog OR cat) AND bird"),
        ("-(dog cat)", "NOT (dog AND cat)"),
        ('label:"teddy  bear">=60.0', '"teddy bear">=60'),
        ('"dog"', "dog"),
        ('"and"', '"and"'),
        ("category:animal", "category:animal"),
        ("dog>=.5", "dog>=0.5"),
    ],
)
def test_canonical_text(query: str, canonical: str) -> None:
    assert to_string(parse(query)) == canonical


@pytest.mark.parametrize(
    "node",
    [
        Term('say "cheese"'),
        Term("   "),
        Term("dog", op=">=", threshold=150.0),
        Term("dog", op="=", threshold=50.0),
        Term("dog", op=">="),
        Term("dog", field="two words"),
    ],
)
def test_to_string_rejects_what_no_query_can_say(node: Node) -> None:
    with pytest.raises(ValueError):
        to_string(node)


# --- property-based ---------------------------------------------------------------------------------------

FRAGMENTS = [
    "dog",
    "Cat",
    "teddy",
    "t-shirt",
    "café",
    "'s",
    "_",
    "80",
    " ",
    "  ",
    "\t",
    "AND",
    "or",
    "Not",
    "-",
    "(",
    ")",
    '"',
    '"teddy bear"',
    ">=",
    ">",
    "<=",
    "<",
    "=",
    "80",
    "150",
    ".5",
    "1e3",
    "label:",
    "category:",
    "text:",
    ":",
    "$",
    "\x00",
    "\u0301",
    "\u201c",
]


def _check_parse_or_query_error(query: str) -> None:
    try:
        node = parse(query)
    except QueryError as error:
        assert error.position is not None
        assert 0 <= error.position <= len(query)
        assert error.query == query
        event("QueryError")
        return
    event("parsed")
    text = to_string(node)
    assert parse(text) == node


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_any_text_parses_or_raises_query_error(query: str) -> None:
    _check_parse_or_query_error(query)


@settings(max_examples=1000, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join).filter(lambda s: len(s) <= 200))
def test_query_like_text_parses_or_raises_query_error(query: str) -> None:
    _check_parse_or_query_error(query)


_LABEL_CHARS = st.characters(
    categories=("L", "N", "Mn", "Zs", "P", "S"),
    exclude_characters='"',
)
labels = st.text(_LABEL_CHARS, min_size=1, max_size=12).map(lambda s: " ".join(s.split())).filter(
    bool
) | st.sampled_from(["dog", "and", "OR", "not", "-x", "teddy bear", "a:b", "x>=1", "(y)"])
thresholds = st.one_of(
    st.none(),
    st.tuples(
        st.sampled_from([">=", ">", "<=", "<"]),
        st.floats(min_value=0, max_value=100, allow_nan=False) | st.integers(0, 100).map(float),
    ),
)


@st.composite
def term_nodes(draw: st.DrawFn) -> Term:
    value = draw(labels)
    field = draw(st.sampled_from(sorted(FIELDS)))
    comparison = draw(thresholds)
    if comparison is None:
        return Term(value, field)
    op, threshold = comparison
    return Term(value, field, op, threshold + 0.0)


def _flatten(kind: type[And] | type[Or], children: list[Node]) -> Node:
    flat: list[Node] = []
    for child in children:
        flat.extend(child.operands if isinstance(child, kind) else (child,))
    return kind(tuple(flat))


trees: st.SearchStrategy[Node] = st.recursive(
    term_nodes(),
    lambda children: st.one_of(
        children.map(Not),
        st.lists(children, min_size=2, max_size=4).map(lambda c: _flatten(And, c)),
        st.lists(children, min_size=2, max_size=4).map(lambda c: _flatten(Or, c)),
    ),
    max_leaves=12,
)


def _depth(node: Node) -> int:
    """Nesting of the canonical text: one level per NOT and per pair of parentheses."""
    if isinstance(node, Term):
        return 0
    if isinstance(node, Not):
        extra = 1 if isinstance(node.operand, And | Or) else 0
        return 1 + extra + _depth(node.operand)
    nested = And | Or if isinstance(node, And) else Or
    return max((1 if isinstance(op, nested) else 0) + _depth(op) for op in node.operands)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(trees)
def test_generated_trees_round_trip(node: Node) -> None:
    text = to_string(node)
    assume(len(text) <= MAX_QUERY_LENGTH and _depth(node) <= MAX_DEPTH)
    assert parse(text, FIELDS) == node
    assert to_string(parse(text, FIELDS)) == text
