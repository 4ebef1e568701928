"""Search words to labels by meaning (pixlens.analysis.meaning), with the real bundled sentence model."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import numpy as np
import pytest

import pixlens.analysis.meaning as meaning
import pixlens.analysis.runtime as runtime
from pixlens.analysis.meaning import LabelMeanings, SentenceEncoder
from pixlens.analysis.taxonomy import Taxonomy
from pixlens.analysis.wordpiece import WordPiece
from pixlens.errors import ModelError

TOKEN_IDS = Path(__file__).resolve().parent / "data" / "minilm_token_ids.json"

# The development list the threshold was chosen on: each word and the labels a person would accept first
# (any one of them must be the nearest), then words that must reach no label at all.
EXPECTED = {
    "kitten": {"Cat", "Tabby Cat", "Tiger Cat", "Persian Cat", "Siamese Cat", "Egyptian Cat"},
    "kitty": {"Cat", "Tabby Cat"},
    "mug": {"Coffee Mug"},
    "beach": {"Seashore"},
    "seaside": {"Seashore"},
    "ocean": {"Seashore"},
    "lake": {"Lakeside"},
    "pet": {"Dog", "Cat"},
    "puppy": {"Dog", "Canine"},
    "clothes": {"Clothing"},
    "sofa": {"Couch"},
    "couch": {"Couch"},
    "automobile": {"Car"},
    "bike": {"Bicycle"},
    "cellphone": {"Cell Phone"},
    "laptop": {"Laptop"},
    "drink": {"Beverage"},
    "coffee": {"Coffeepot", "Coffee Mug"},
    "jewelry": {"Necklace"},
    "church": {"Church Building"},
    "bridge": {"Suspension Bridge", "Steel Arch Bridge"},
}
NOTHING = [
    "happiness",
    "idea",
    "tuesday",
    "invoice",
    "democracy",
    "freedom",
    "theory",
    "justice",
    "yesterday",
    "algorithm",
    "mortgage",
    "sadness",
    "concept",
    "xqzv",
    "qwrtp",
    "zzkj",
    "sunset",  # no label is a sunset; the nearest, Sunscreen, is a false friend
]


@pytest.fixture(scope="module")
def meanings() -> LabelMeanings:
    return LabelMeanings()


def test_tokenizer_gives_the_reference_ids() -> None:
    reference: dict[str, list[int]] = json.loads(TOKEN_IDS.read_text(encoding="utf-8"))
    assert len(reference) > 1000  # the hand-picked strings and every label name and alias
    tokenizer = WordPiece(runtime.model_path(meaning.VOCAB_FILE))
    wrong = {text: tokenizer.encode(text) for text, ids in reference.items() if tokenizer.encode(text) != ids}
    assert wrong == {}


def test_tokenizer_truncates_long_texts_keeping_the_end_marker() -> None:
    tokenizer = WordPiece(runtime.model_path(meaning.VOCAB_FILE), max_tokens=8)
    ids = tokenizer.encode("one two three four five six seven eight nine")
    assert len(ids) == 8
    assert ids[0] == tokenizer.cls and ids[-1] == tokenizer.sep


def test_embeddings_are_unit_length_and_batching_does_not_change_them() -> None:
    encoder = SentenceEncoder()
    texts = ["kitten", "a coffee mug on a wooden table", "xqzv", "beach"]
    batch = encoder.embed(texts)
    assert batch.shape == (4, meaning.DIMENSION)
    assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-4)
    one_by_one = np.stack([encoder.embed([text])[0] for text in texts])
    assert np.array_equal(batch, one_by_one)
    assert float(batch[0] @ batch[3]) < 0.5  # different meanings stay apart


def test_the_issue_examples(meanings: LabelMeanings) -> None:
    kitten = [name for name, _ in meanings.nearest("kitten")]
    assert {"Cat", "Tabby Cat", "Tiger Cat"} & set(kitten)
    assert meanings.nearest("mug")[0][0] == "Coffee Mug"
    assert meanings.nearest("beach")[0][0] == "Seashore"
    assert meanings.nearest("xqzv") == []


@pytest.mark.parametrize("word", sorted(EXPECTED))
def test_development_words_reach_the_labels_a_person_expects(meanings: LabelMeanings, word: str) -> None:
    found = meanings.nearest(word)
    assert found, f"{word} reached no label"
    assert found[0][0] in EXPECTED[word], found
    scores = [score for _, score in found]
    assert scores == sorted(scores, reverse=True)
    assert all(score >= meanings.threshold for score in scores)


@pytest.mark.parametrize("word", NOTHING)
def test_abstract_and_nonsense_words_reach_no_label(meanings: LabelMeanings, word: str) -> None:
    assert meanings.nearest(word) == []


def test_limit_case_and_spaces(meanings: LabelMeanings) -> None:
    assert len(meanings.nearest("pet", limit=2)) == 2
    assert meanings.nearest("pet", limit=0) == []
    assert meanings.nearest("  ") == []
    assert meanings.nearest("  Coffee   MUG ") == meanings.nearest("coffee mug")
    assert meanings.nearest("coffee mug")[0] == ("Coffee Mug", pytest.approx(1.0, abs=0.02))


def test_answers_are_the_same_from_several_threads_at_once() -> None:
    words = ["kitten", "mug", "beach", "pet", "clothes", "xqzv", "sofa", "ocean"]
    expected = {word: LabelMeanings().nearest(word) for word in words}
    shared = LabelMeanings()  # cold: the threads race to load the model and the label embeddings
    results: list[dict[str, list[tuple[str, float]]]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def ask(offset: int) -> None:
        try:
            start.wait()
            order = words[offset:] + words[:offset]
            results.append({word: shared.nearest(word) for word in order * 3})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(results) == 6
    for result in results:
        assert result == expected


def test_shipped_label_embeddings_are_current_and_match_the_model(meanings: LabelMeanings) -> None:
    key = meaning.labels_key(meanings.names)
    shipped = meaning._read_labels(key, meaning._labels_path())
    assert shipped is not None, "label_meanings.npz is stale: run scripts/embed_labels.py"
    fresh = SentenceEncoder().embed(meanings.names[:100])
    assert np.abs(shipped[:100] - fresh).max() < 1e-3  # stored as float16


def test_a_stale_label_file_is_recomputed(tmp_path: Path) -> None:
    data = json.loads((Path(meaning.__file__).parent / "data" / "taxonomy.json").read_text())
    assert "Snowman" not in Taxonomy.load()
    data["labels"]["Snowman"] = {"parents": [], "aliases": [], "categories": ["Everyday Objects"]}
    taxonomy = Taxonomy(data, "test")
    changed = LabelMeanings(taxonomy)
    assert meaning._read_labels(meaning.labels_key(changed.names), meaning._labels_path()) is None
    assert len(changed.label_embeddings()) == len(changed.names)
    assert changed.nearest("snowman")[0][0] == "Snowman"
    assert [n for n, _ in changed.nearest("mug")] == [n for n, _ in LabelMeanings().nearest("mug")]
    (tmp_path / "broken.npz").write_bytes(b"not a numpy file")
    assert meaning._read_labels("any", tmp_path / "broken.npz") is None


def test_the_model_file_is_checked_against_its_checksum(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = runtime.model_dir() / meaning.MODEL_FILE
    sums = (runtime.model_dir() / "SHA256SUMS").read_text()
    assert f"{hashlib.sha256(real.read_bytes()).hexdigest()}  {meaning.MODEL_FILE}" in sums.splitlines()
    fake = tmp_path / "models"
    fake.mkdir()
    (fake / "SHA256SUMS").write_text(sums)
    damaged = bytearray(real.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    (fake / meaning.MODEL_FILE).write_bytes(bytes(damaged))
    monkeypatch.setattr(runtime, "model_dir", lambda: fake)
    runtime._checksums.cache_clear()
    try:
        with pytest.raises(ModelError, match="damaged or was replaced"):
            SentenceEncoder().embed(["kitten"])
    finally:
        runtime._checksums.cache_clear()
