"""Write the embeddings of the taxonomy's label names for pixlens.analysis.meaning.

    .venv/bin/python scripts/embed_labels.py

Run it whenever the taxonomy (its label names) or the sentence model changes: pixlens notices a stale file by
its key and embeds the labels at first use instead (about a second), logging a warning. Running it twice
writes the same bytes.
"""

from __future__ import annotations

from pixlens.analysis.meaning import write_label_embeddings


def main() -> None:
    path = write_label_embeddings()
    print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
