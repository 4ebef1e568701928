"""The figures in README.md and docs/PERFORMANCE.md are what scripts/gen_figures.py renders from the committed
benchmarks/results.json: medians with their range over the rounds, dated, with the machine."""

from __future__ import annotations

import copy
import importlib.util
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def gen_figures() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_figures", ROOT / "scripts" / "gen_figures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def figures_module() -> ModuleType:
    return gen_figures()


@pytest.fixture
def figures(figures_module: ModuleType) -> dict[str, Any]:
    loaded: dict[str, Any] = figures_module.load()
    return loaded


def stale_blocks(module: ModuleType, figures: dict[str, Any]) -> list[str]:
    """The blocks of the target documents that differ from what ``figures`` renders."""
    blocks = module.render(figures)
    stale = []
    for path, names in module.TARGETS.items():
        text = path.read_text()
        stale += [f"{path.name}: {name}" for name in names if module.replace_block(text, name, blocks[name]) != text]
    return stale


def test_the_figures_in_the_docs_are_those_of_the_committed_figures_file(
    figures_module: ModuleType, figures: dict[str, Any]
) -> None:
    assert stale_blocks(figures_module, figures) == [], (
        "README.md or docs/PERFORMANCE.md disagree with benchmarks/results.json: run scripts/gen_figures.py"
    )


def test_a_figure_changed_in_the_file_makes_the_docs_stale(figures_module: ModuleType, figures: dict[str, Any]) -> None:
    changed = copy.deepcopy(figures)
    changed["throughput"]["phone"]["pipeline_ips"] += 1.0

    assert "README.md: readme-speed" in stale_blocks(figures_module, changed)
    assert "PERFORMANCE.md: performance" in stale_blocks(figures_module, changed)


def test_a_figure_is_the_median_round_with_the_range_not_the_best_round(
    figures_module: ModuleType, figures: dict[str, Any]
) -> None:
    spread = copy.deepcopy(figures)
    phone = spread["throughput"]["phone"]
    phone["pipeline_ips"], phone["pipeline_ips_rounds"] = 12.0, [12.0, 10.0, 20.0]
    phone["pipeline_vs_naive"], phone["pipeline_vs_naive_rounds"] = 2.74, [2.93, 2.52, 2.74]

    speed = figures_module.render(spread)["readme-speed"]

    assert "12.0 (10.0-20.0, 3 rounds) images/s" in speed
    assert "2.74x (2.52-2.93x, 3 rounds) a naive decode-and-run loop" in speed


def test_each_block_says_when_and_where_it_was_measured(figures_module: ModuleType, figures: dict[str, Any]) -> None:
    dated = copy.deepcopy(figures)
    for name in figures_module.TITLES:
        if name in dated:
            dated[name]["measured"].update(
                date="2031-02-03",
                machine={"cpus": 2, "cpu": "Test CPU 9000", "python": "3.11.9"},
                quick=True,
                other_processes_cpu_share=0.01,
            )
    dated["search"]["measured"]["other_processes_cpu_share"] = 0.4

    blocks = figures_module.render(dated)

    for name in ("readme-labels", "readme-speed", "performance"):
        assert "2031-02-03 on 2 x Test CPU 9000" in blocks[name]
        assert "**quick run**" in blocks[name]
    assert "search latency 40%" in blocks["readme-speed"]
    assert "disturbed figures" in blocks["readme-speed"]
    assert "disturbed" not in blocks["readme-labels"]


def test_label_precision_is_reported_on_held_out_photos(figures_module: ModuleType, figures: dict[str, Any]) -> None:
    held = copy.deepcopy(figures)
    mode = next(name for name in held["label_quality"] if name != "measured")
    held["label_quality"][mode]["held_out"]["default"]["precision"] = {"mean": 0.712, "min": 0.5, "max": 0.9}

    labels = figures_module.render(held)["readme-labels"]

    assert f"| {mode} | 0.71 (0.50-0.90) |" in labels
    assert "did not see" in labels


def test_update_rewrites_only_the_blocks(figures_module: ModuleType, figures: dict[str, Any], tmp_path: Path) -> None:
    for path in figures_module.TARGETS:
        target = tmp_path / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    readme = tmp_path / "README.md"
    begin, end = figures_module.markers("readme-speed")
    before, _, rest = readme.read_text().partition(begin)
    _, _, after = rest.partition(end)
    changed = copy.deepcopy(figures)
    changed["throughput"]["phone"]["pipeline_ips"] = 99.5

    assert figures_module.update(changed, tmp_path) == [readme, tmp_path / "docs" / "PERFORMANCE.md"]
    text = readme.read_text()
    assert text.startswith(before + begin) and text.endswith(end + after)
    assert "99.5 (" in text
    assert figures_module.update(changed, tmp_path) == []


def test_a_document_without_the_markers_is_refused(figures_module: ModuleType) -> None:
    with pytest.raises(figures_module.BlockError, match="readme-speed"):
        figures_module.replace_block("# a README without generated figures\n", "readme-speed", "| a | b |")


def test_a_search_benchmark_with_rounds_shows_the_range_of_its_p95(
    figures_module: ModuleType, figures: dict[str, Any]
) -> None:
    rounds = copy.deepcopy(figures)
    query = next(q for q in rounds["search"]["queries"].values() if q["query"] == "person")
    query["p95"], query["p95_rounds"] = 99.0, [99.0, 98.0, 120.0]

    blocks = figures_module.render(rounds)

    assert "99.0 (98.0-120.0, 3 rounds) ms (`person`)" in blocks["readme-speed"]
    assert "| `person` |" in blocks["performance"] and "99.00 (98.00-120.00, 3 rounds)" in blocks["performance"]


def api_figures(p95_with_facets: float, rounds: list[float | None]) -> dict[str, Any]:
    """An ``api`` section as benchmarks/api_load.py writes it: every kind at 1, 10 and 50 clients."""

    def run(p95: float, each: list[float | None]) -> dict[str, Any]:
        return {
            "requests_per_second": 200.0,
            "requests_per_second_rounds": [190.0, 200.0, 210.0],
            "p50_ms": p95 / 2,
            "p95_ms": p95,
            "p95_rounds": each,
            "p99_ms": p95 * 1.5,
            "errors": 0,
        }

    kinds = ("label search", "label search, facets", "boolean search", "record read")
    figures = {kind: {n: run(20.0, [19.0, 20.0, 22.0]) for n in ("1", "10", "50")} for kind in kinds}
    figures["label search, facets"]["50"] = run(p95_with_facets, rounds)
    return {
        "records": 100_000,
        "samples": 31,
        "seconds_per_run": 5.0,
        "rounds": 3,
        "connections": [1, 10, 50],
        "queries": {kind: ["person", "dog AND NOT cat"] for kind in kinds if "search" in kind},
        "reads": 131,
        "uploads": {
            "per_second": 2.0,
            "accepted": 300,
            "refused": 0,
            "analysed": 120,
            "seconds": 200.0,
            "queue_left": 9,
        },
        "kinds": figures,
        "target_ms": 50.0,
        "verdicts": {"label search": "PASS", "label search, facets": "PASS" if p95_with_facets < 50 else "MISS"},
        "measured": {
            "date": "2031-02-03",
            "machine": {"cpus": 2, "cpu": "Test CPU 9000", "python": "3.11.9"},
            "quick": False,
            "seconds": 240.0,
            "other_processes_cpu_share": 0.3,
        },
    }


def test_the_api_benchmark_shows_the_p95_at_50_clients_with_its_range_and_says_when_it_misses(
    figures_module: ModuleType, figures: dict[str, Any]
) -> None:
    loaded = copy.deepcopy(figures)
    loaded["api"] = api_figures(80.0, [75.0, 80.0, 140.0])

    blocks = figures_module.render(loaded)

    assert "with facets (the web page's) 80.0 (75.0-140.0, 3 rounds) ms" in blocks["readme-speed"]
    assert "< 50 ms: MISS; without facets: PASS" in blocks["readme-speed"]
    assert "HTTP API under load 30%" in blocks["readme-speed"] and "disturbed figures" in blocks["readme-speed"]
    table = blocks["performance"]
    assert "### The HTTP API under load" in table
    assert (
        "| label search, facets | 50 | 200.0 (190.0-210.0, 3 rounds) | 40.0 | 80.0 (75.0-140.0, 3 rounds) | 120.0"
        " | < 50: MISS |" in table
    )
    assert "| record read | 1 |" in table and "300 sample JPEGs were uploaded" in table and "120 analysed" in table


def test_an_api_run_in_which_no_request_was_answered_shows_a_bound_and_misses(
    figures_module: ModuleType, figures: dict[str, Any]
) -> None:
    loaded = copy.deepcopy(figures)
    loaded["api"] = api_figures(80.0, [80.0, None])
    loaded["api"]["kinds"]["label search"]["50"].update(p50_ms=None, p95_ms=None, p99_ms=None, p95_rounds=[None, None])
    loaded["api"]["verdicts"]["label search"] = "MISS"

    blocks = figures_module.render(loaded)

    assert "with facets (the web page's) 80.0 ms (1 of 2 rounds: none answered)" in blocks["readme-speed"]
    assert "without > 5000 ms (none answered)" in blocks["readme-speed"]
    assert "< 50 ms: MISS; without facets: MISS" in blocks["readme-speed"]
    assert "| label search | 50 | 200.0 (190.0-210.0, 3 rounds) | > 5000 (none answered) |" in blocks["performance"]
