"""The vocabulary of issue 12: do the words people type to search their photos reach the right labels, and how
fast is a free-text query?

    .venv/bin/python benchmarks/vocabulary.py [--records 100000] [--queries 200] [--rounds 3] [--json]
    (or ./dev bench --only vocabulary)

benchmarks/data/search_words.csv holds everyday photo-search words (plurals, British spellings, synonyms, broad and
ambiguous words), each mapped by hand to the taxonomy labels it should find; a mapped label stands for itself and
every label below it. The list was made without looking at how pixlens resolves the words and nothing is tuned on
it: it is held out. Each word's first TOP matches from the lexicon are judged:

- reach: the share of the mappable words for which at least one right label comes back (target >= 95%);
- wrong: the share of the returned (word, label) pairs that are not right (target <= 3%), and the share of the
  words with any wrong label; a broader label ("Dog" for "golden retriever": an ancestor of a mapped label) is
  wrong too, and counted apart;
- words that no label holds (an empty mapping: "sunset") are left out of both shares; those that still bring
  a label back are listed.

Latency: p50 / p95 / p99 of ``Searcher.search`` over free-text queries of 5 words ("a dog on the beach"), made
from the list's words and stop words, on search_latency.py's synthetic catalog (cached in benchmarks/out/); target
p95 < 30 ms at 100,000 records. Also the lexicon's load time and its lookup time per word.

Side by side, the same list through the vocabulary before the lexicon (the taxonomy's names, aliases and direct
narrower words: TaxonomyWords), the baseline.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import search_latency
from pixlens.analysis.taxonomy import Taxonomy
from pixlens.catalog.sqlite import SqliteCatalog
from pixlens.lexicon import Lexicon

HERE = Path(__file__).resolve().parent
WORDS = HERE / "data" / "search_words.csv"
TOP = 10  # matches judged per word
RECORDS = 100_000
QUERIES = 200
ROUNDS = 3
REACH_TARGET = 0.95
WRONG_TARGET = 0.03
FREE_TEXT_P95_MS = 30.0
SEED = 20261212
SHOWN = 10  # words printed per list
KINDS = ("plural", "British", "multi-word", "broad", "ambiguous")  # named in a word's note; multi-word: 2 words
COLOURS = ("red", "blue", "green", "white", "black", "yellow")
# Five words each: "{}" is a word of the list, "{colour}" a colour word.
TEMPLATES = (
    "a {} on the {}",
    "{} next to a {}",
    "a {} with a {}",
    "{colour} {} parked near {}",
    "my {} in the {}",
    "two {} near the {}",
    "{} in front of {}",
    "{} and {} at home",
    "some {} by the {}",
)


@dataclass(frozen=True)
class Word:
    word: str
    labels: tuple[str, ...]  # empty: no label holds it
    note: str


def load_words(path: Path = WORDS) -> list[Word]:
    """The word list (lines starting with '#' are its header comment)."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = csv.DictReader(line for line in handle if not line.startswith("#"))
        return [
            Word(row["word"], tuple(name.strip() for name in row["labels"].split(";") if name.strip()), row["note"])
            for row in rows
        ]


def kinds_of(entry: Word) -> list[str]:
    """The kinds a word is reported under (reach by kind: plurals, British spellings, ...)."""
    return [kind for kind in KINDS if kind in entry.note or (kind == "multi-word" and len(entry.word.split()) > 1)]


# -- the lexicon, or today's taxonomy in its place -----------------------------------------------------------------
class MatchLike(Protocol):
    @property
    def label(self) -> str: ...
    @property
    def weight(self) -> float: ...
    @property
    def via(self) -> str: ...


class LexiconLike(Protocol):
    def lookup(self, text: str) -> Sequence[MatchLike]: ...


@dataclass(frozen=True)
class TaxonomyMatch:
    label: str
    weight: float
    via: str


class TaxonomyWords:
    """Today's vocabulary, the baseline: the labels ``Taxonomy.resolve`` names. ``Taxonomy.expand`` adds their
    descendants, which are right exactly when the label they hang from is (or lies below a mapped label), so the
    reach is expand's; judging the named labels keeps the top TOP from being an arbitrary slice of a set."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.taxonomy = taxonomy

    def lookup(self, text: str) -> list[TaxonomyMatch]:
        return [TaxonomyMatch(name, 1.0, "taxonomy") for name in sorted(self.taxonomy.resolve(text))]


def load_lexicon() -> tuple[LexiconLike, str, float]:
    """The lexicon as search uses it (WordNet and the sentence model), what it is, and its load time in ms (the
    sentence model loads on the first word WordNet does not know: that is in the latency's first pass)."""
    started = time.perf_counter()
    lexicon: LexiconLike = Lexicon.with_meanings()
    return lexicon, "pixlens.lexicon with the sentence model", (time.perf_counter() - started) * 1000


# -- reach and wrong mappings --------------------------------------------------------------------------------------
def right_labels(entry: Word, taxonomy: Taxonomy) -> frozenset[str]:
    """The labels a word may find: its mapped labels and everything below them."""
    return frozenset(entry.labels).union(*(taxonomy.descendants(name) for name in entry.labels))


def broader_labels(entry: Word, taxonomy: Taxonomy) -> frozenset[str]:
    """The ancestors of a word's mapped labels that are not themselves right (too broad: they find other things)."""
    return frozenset(parent for name in entry.labels for parent in taxonomy.info(name).parents) - right_labels(
        entry, taxonomy
    )


def judge(words: Sequence[Word], lexicon: LexiconLike, taxonomy: Taxonomy) -> dict[str, Any]:
    mappable = [entry for entry in words if entry.labels]
    reached, first_right, pairs, wrong_pairs, broader_pairs = 0, 0, 0, 0, 0
    kinds: dict[str, list[int]] = {kind: [0, 0] for kind in KINDS}  # kind -> [reached, words]
    unreached: list[dict[str, Any]] = []
    wrong: list[dict[str, Any]] = []
    strongest_pairs, strongest_wrong = 0, 0  # the labels of each word's strongest meaning (its top weight) alone
    for entry in mappable:
        found = lexicon.lookup(entry.word)[:TOP]
        returned = [match.label for match in found]
        right = right_labels(entry, taxonomy)
        bad = [(rank, label) for rank, label in enumerate(returned, 1) if label not in right]
        pairs += len(returned)
        wrong_pairs += len(bad)
        strongest = [match.label for match in found if match.weight == found[0].weight] if found else []
        strongest_pairs += len(strongest)
        strongest_wrong += sum(label not in right for label in strongest)
        broader_pairs += sum(label in broader_labels(entry, taxonomy) for _, label in bad)
        hit = len(bad) < len(returned)
        for kind in kinds_of(entry):
            kinds[kind][0] += hit
            kinds[kind][1] += 1
        if hit:
            reached += 1
            first_right += returned[0] in right
        else:
            unreached.append({"word": entry.word, "returned": returned, "mapped": list(entry.labels)})
        if bad:
            wrong.append(
                {
                    "word": entry.word,
                    "wrong": [label for _, label in bad],
                    "first_wrong_rank": bad[0][0],
                    "returned": len(returned),
                    "mapped": list(entry.labels),
                }
            )
    # The worst first: a wrong label at the top, then the most wrong labels.
    wrong.sort(key=lambda w: (w["first_wrong_rank"], -len(w["wrong"]), w["word"]))
    unmappable = [entry for entry in words if not entry.labels]
    answered = [
        {"word": entry.word, "returned": [match.label for match in lexicon.lookup(entry.word)[:TOP]]}
        for entry in unmappable
    ]
    count = max(1, len(mappable))
    reach, wrong_share = reached / count, wrong_pairs / pairs if pairs else 0.0
    return {
        "words": len(words),
        "mappable": len(mappable),
        "unmappable": len(unmappable),
        "top": TOP,
        "reach": round(reach, 4),
        "reached": reached,
        "first_right": round(first_right / count, 4),
        "reach_by_kind": {kind: {"reached": r, "words": n} for kind, (r, n) in kinds.items() if n},
        "reach_target": REACH_TARGET,
        "reach_verdict": "PASS" if reach >= REACH_TARGET else "MISS",
        "pairs": pairs,
        "wrong_pairs": wrong_pairs,
        "broader_pairs": broader_pairs,
        "wrong": round(wrong_share, 4),
        "strongest_pairs": strongest_pairs,
        "strongest_wrong": round(strongest_wrong / strongest_pairs, 4) if strongest_pairs else 0.0,
        "words_with_wrong": round(len(wrong) / count, 4),
        "wrong_target": WRONG_TARGET,
        "wrong_verdict": "PASS" if wrong_share <= WRONG_TARGET else "MISS",
        "unreached": unreached,
        "worst_wrong": wrong,
        "unmappable_answered": [a for a in answered if a["returned"]],
    }


# -- latency -------------------------------------------------------------------------------------------------------
def free_text_queries(words: Sequence[Word], count: int, seed: int = SEED) -> list[str]:
    """``count`` queries of 5 words: the list's one-word entries (mappable or not: people type both) in sentences."""
    rng = random.Random(seed)
    single = sorted({entry.word for entry in words if entry.word.isalpha()})
    queries = []
    for index in range(count):
        template = TEMPLATES[index % len(TEMPLATES)]
        slots = template.count("{}")
        text = template.format(*rng.sample(single, slots), colour=rng.choice(COLOURS))
        assert len(text.split()) == 5, text
        queries.append(text)
    return queries


def search_latency_of(queries: Sequence[str], records: int, rounds: int) -> dict[str, Any]:
    """Every query once per round, after one warm-up pass (postings, the lexicon and its model loaded); the
    figures are the median round's (by p95), with each round's p95."""
    taxonomy = Taxonomy.load()
    catalog = SqliteCatalog(search_latency.catalog_path(records, taxonomy))
    searcher = search_latency.searcher_for(catalog, taxonomy)
    searcher.search("zzqxv on a dog", limit=20)  # the sentence model and the postings loaded, no query's words
    first_times, totals = [], []
    for text in queries:  # each word new to the sentence model's cache: what a query typed the first time costs
        began = time.perf_counter()
        totals.append(searcher.search(text, limit=20).total)
        first_times.append((time.perf_counter() - began) * 1000)
    warm_up = sum(first_times)
    each: list[dict[str, float]] = []
    for _ in range(rounds):
        times = []
        for text in queries:
            began = time.perf_counter()
            searcher.search(text, limit=20)
            times.append((time.perf_counter() - began) * 1000)
        each.append(search_latency.percentiles(times))
    catalog.close()
    median = sorted(each, key=lambda figures: figures["p95"])[len(each) // 2]
    return {
        "records": records,
        "queries": len(queries),
        "rounds": rounds,
        "examples": list(queries[:3]),
        **median,
        "p95_rounds": [figures["p95"] for figures in each],
        "warm_up_ms": round(warm_up, 1),
        "first_time": search_latency.percentiles(first_times),
        "with_hits": round(sum(total > 0 for total in totals) / len(totals), 4),
        "median_hits": statistics.median(totals),
        "target_ms": FREE_TEXT_P95_MS,
        "verdict": "PASS" if median["p95"] < FREE_TEXT_P95_MS else "MISS",
    }


def lookup_latency(words: Sequence[Word], lexicon: LexiconLike, rounds: int) -> dict[str, Any]:
    """Every word's lookup once per round (after a warm-up pass), in microseconds; the median round by p95."""
    for entry in words:
        lexicon.lookup(entry.word)
    each = []
    for _ in range(rounds):
        times = []
        for entry in words:
            began = time.perf_counter()
            lexicon.lookup(entry.word)
            times.append((time.perf_counter() - began) * 1e6)
        cuts = statistics.quantiles(times, n=100, method="inclusive")
        each.append({"p50": round(cuts[49], 1), "p95": round(cuts[94], 1), "p99": round(cuts[98], 1)})
    median = sorted(each, key=lambda figures: figures["p95"])[len(each) // 2]
    return {**median, "p95_rounds": [figures["p95"] for figures in each]}


def measure(
    records: int = RECORDS,
    queries: int = QUERIES,
    rounds: int = ROUNDS,
    words: Sequence[Word] | None = None,
    latency: bool = True,
) -> dict[str, Any]:
    """The figures: reach and wrong mappings over ``words`` (the whole list by default), then, with ``latency``,
    the lexicon's lookups and the free-text searches over a catalog of ``records`` synthetic records."""
    entries = load_words() if words is None else list(words)
    lexicon, source, load_ms = load_lexicon()
    results: dict[str, Any] = {"lexicon": source, "load_ms": round(load_ms, 1)}
    taxonomy = Taxonomy.load()
    results |= judge(entries, lexicon, taxonomy)
    before = judge(entries, TaxonomyWords(taxonomy), taxonomy)  # side by side: the vocabulary before the lexicon
    results["before"] = {key: before[key] for key in ("reach", "reached", "wrong", "wrong_pairs", "pairs")}
    if latency:
        results["lookup_us"] = lookup_latency(entries, lexicon, rounds)
        results["search"] = search_latency_of(free_text_queries(entries, queries), records, rounds)
    return results


def report(results: dict[str, Any]) -> None:
    print(
        f"Vocabulary: {results['words']} photo-search words of {results.get('list', WORDS.name)}"
        f" ({results['mappable']} mappable,"
        f" {results['unmappable']} that no label holds), through {results['lexicon']}; top {results['top']} judged"
    )
    print(
        f"  reach: {results['reach']:.1%} of the mappable words find a right label ({results['reached']}),"
        f" {results['first_right']:.1%} with a right label first  target >= {results['reach_target']:.0%}"
        f" {results['reach_verdict']}"
    )
    print(
        f"  wrong: {results['wrong']:.1%} of {results['pairs']} returned labels ({results['wrong_pairs']},"
        f" of which {results['broader_pairs']} broader than the word); {results['words_with_wrong']:.1%} of the words"
        f" have a wrong label  target <= {results['wrong_target']:.0%} {results['wrong_verdict']}"
    )
    if "strongest_pairs" in results:
        print(
            f"  wrong among the labels of each word's strongest meaning alone (its top weight, the first ranked):"
            f" {results['strongest_wrong']:.1%} of {results['strongest_pairs']} (for information; the verdict is on"
            f" the top {results['top']})"
        )
    if "before" in results:
        b = results["before"]
        print(
            f"  before the lexicon (the taxonomy's words alone): reach {b['reach']:.1%} ({b['reached']}),"
            f" wrong {b['wrong']:.1%} of {b['pairs']} returned labels"
        )
    by_kind = ", ".join(f"{kind} {k['reached']}/{k['words']}" for kind, k in results["reach_by_kind"].items())
    print(f"  reach by kind of word: {by_kind}")
    unreached = results["unreached"]
    if unreached:
        shown = ", ".join(f"{u['word']} (-> {', '.join(u['returned'][:3]) or 'nothing'})" for u in unreached[:SHOWN])
        print(f"  reaching no right label ({len(unreached)}): {shown}{', ...' if len(unreached) > SHOWN else ''}")
    for w in results["worst_wrong"][:SHOWN]:
        print(
            f"  wrong for {w['word']!r}: {', '.join(w['wrong'][:4])}{' ...' if len(w['wrong']) > 4 else ''}"
            f" (first wrong at rank {w['first_wrong_rank']} of {w['returned']}; mapped: {', '.join(w['mapped'][:3])})"
        )
    answered = results["unmappable_answered"]
    if answered:
        shown = ", ".join(f"{a['word']} -> {', '.join(a['returned'][:2])}" for a in answered[:SHOWN])
        print(f"  words no label holds that still bring labels back ({len(answered)}): {shown}")
    print(f"  lexicon load: {results['load_ms']:.0f} ms")
    if "lookup_us" in results:
        lookup = results["lookup_us"]
        spread = " ".join(f"{value:.0f}" for value in lookup["p95_rounds"])
        print(
            f"  lookup per word: p50 {lookup['p50']:.0f} us, p95 {lookup['p95']:.0f} us (rounds: {spread}),"
            f" p99 {lookup['p99']:.0f} us"
        )
    if "search" in results:
        s = results["search"]
        spread = " ".join(f"{value:.1f}" for value in s["p95_rounds"])
        print(
            f"  free-text search, {s['queries']} queries of 5 words over {s['records']:,} records, {s['rounds']}"
            f" round{'s' if s['rounds'] > 1 else ''} (e.g. {s['examples'][0]!r}): p50 {s['p50']:.2f} ms,"
            f" p95 {s['p95']:.2f} ms (rounds: {spread}), p99 {s['p99']:.2f} ms"
            f"  target p95 < {s['target_ms']:.0f} ms {s['verdict']}"
        )
        first = s["first_time"]
        print(
            f"  the same queries the first time (their words new to the sentence model): p50 {first['p50']:.2f} ms,"
            f" p95 {first['p95']:.2f} ms, p99 {first['p99']:.2f} ms"
        )
        print(f"  queries with any hit: {s['with_hits']:.0%}, median hits {s['median_hits']:,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=RECORDS)
    parser.add_argument("--queries", type=int, default=QUERIES)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--no-latency", action="store_true", help="only reach and wrong mappings")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--words", type=Path, default=WORDS, help="another word list: data/dev_words.csv is the one to tune rules on"
    )
    args = parser.parse_args()
    words = load_words(args.words)
    results = measure(args.records, args.queries, args.rounds, words=words, latency=not args.no_latency)
    results["list"] = args.words.name
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        report(results)


if __name__ == "__main__":
    main()
