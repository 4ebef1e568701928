"""Write docs/CONFIGURATION.md from the settings model, so the reference cannot drift from the code.

.venv/bin/python scripts/gen_config_docs.py          (tests/test_config.py checks the file is current)
"""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic import BaseModel

from pixlens.config import Settings

TARGET = Path(__file__).resolve().parent.parent / "docs" / "CONFIGURATION.md"

HEADER = """# Configuration

Every setting can be given, highest precedence first:

1. on the command line where a flag exists (`--home`, `--store`, `--catalog`),
2. as an environment variable `PIXLENS_<NAME>`; nested settings use `__`, e.g. `PIXLENS_LABELS__MIN_CONFIDENCE=70`;
   lists are JSON, e.g. `PIXLENS_LABELS__EXCLUDE_CATEGORIES='["Weapons and Military"]'`,
3. in `pixlens.toml` in the home folder (`./.pixlens` by default), e.g.

```toml
batch_size = 16

[labels]
min_confidence = 70
max_labels = 20
exclude_categories = ["Weapons and Military"]
```

4. the default.

A wrong value is refused with a message that names the setting and the source it came from.
Changing a `labels` setting changes the label analyser's version, so `pixlens reconcile` re-analyses the images
that were labelled with the old settings.

This page is generated from `src/pixlens/config.py` by `scripts/gen_config_docs.py`.
"""


FOOTER = """
## Analysis backend (`analysis`, `rekognition`)

`analysis.backend = "bundled"` (the default) analyses with the models inside pixlens; `"rekognition"` fills the
labels, text, faces, moderation and properties from Amazon Rekognition instead (DetectLabels, DetectText,
DetectFaces, DetectModerationLabels), into the same record, so search, the API and the web page work the same.
The `labels`, `text`, `faces`, `moderation` and `properties` settings apply to either backend (MinConfidence,
MaxLabels, the label and category filters, the faces' and moderation's thresholds, the number of colours); the
`rekognition` settings say where and how Rekognition is called. Credentials come from the usual AWS chain, never
from settings. What differs (vocabulary, people, speed, cost per 1,000 images) is in docs/BACKENDS.md.

```toml
[analysis]
backend = "rekognition"

[rekognition]
region = "eu-west-1"
face_attributes = ["DEFAULT", "AGE_RANGE"]
```

## Webhooks (`hooks`)

Saved searches (`pixlens hooks add NAME QUERY URL [--secret S]`) POST each newly analysed image they match to their
URL. A delivery that is not answered with a 2xx (an error status, a redirect, which is not followed, a refused
connection, or no answer within `hooks.timeout_seconds`) is tried again after 10 s, 20 s, 40 s... (doubling, at most
an hour, +-25% jitter); after `hooks.max_attempts` attempts it is `dead` and stays in `pixlens hooks log` with its
last error. Pending deliveries are rows in the catalog: they survive a restart. `pixlens serve` sends them as they
come; without it, `pixlens hooks deliver` sends what is due (from cron, say). Proxies are taken from the usual
`http_proxy` / `https_proxy` / `no_proxy` variables. See docs/API.md, "Keys and webhooks", for the request and its
signature.
"""


def rows(model: type[BaseModel], prefix: str = "") -> list[str]:
    lines: list[str] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            lines.extend(rows(annotation, f"{prefix}{name}."))
            continue
        default = field.get_default(call_default_factory=True)
        env = "PIXLENS_" + (prefix + name).upper().replace(".", "__")
        shown = f"`{default!s}`" if default not in ("", None) else "(see description)"
        lines.append(f"| `{prefix}{name}` | `{env}` | {shown} | {field.description or ''} |")
    return lines


def render() -> str:
    table = ["| setting | environment variable | default | what it does |", "| --- | --- | --- | --- |"]
    return HEADER + "\n" + "\n".join(table + rows(Settings)) + "\n" + FOOTER


if __name__ == "__main__":
    TARGET.write_text(render())
    sys.stdout.write(f"wrote {TARGET}\n")
