"""Write src/pixlens/analysis/data/english_words.txt.gz: every single-word WordNet 3.0 lemma, lower case.

    sh scripts/install-wordnet.sh && .venv/bin/python scripts/build_wordlist.py

The text analyser never splits a token that is an English word by itself ("INVOICE" stays whole, while
"THANKYOU" becomes "THANK YOU"); wordninja's frequency list alone cannot tell, since it ranks "invoice" below
"thankyou". WordNet is needed only here, not at run time.
"""

from __future__ import annotations

import gzip
from pathlib import Path

WORDNET = Path("/usr/share/wordnet")
TARGET = Path(__file__).resolve().parent.parent / "src" / "pixlens" / "analysis" / "data" / "english_words.txt.gz"


def lemmas() -> set[str]:
    words: set[str] = set()
    for part in ("noun", "verb", "adj", "adv"):
        for line in (WORDNET / f"index.{part}").read_text(encoding="utf-8").splitlines():
            if line.startswith(" "):
                continue
            lemma = line.split(" ", 1)[0]
            if lemma.isalpha():
                words.add(lemma.lower())
        for line in (WORDNET / f"{part}.exc").read_text(encoding="utf-8").splitlines():
            inflected = line.split(" ", 1)[0]
            if inflected.isalpha():
                words.add(inflected.lower())
    return words


def main() -> None:
    words = sorted(lemmas())
    # mtime=0: the same words give the same bytes.
    TARGET.write_bytes(gzip.compress(("\n".join(words) + "\n").encode(), mtime=0))
    print(f"wrote {TARGET} ({len(words)} words, {TARGET.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
