"""The Lambda function's container image (deploy/aws/Dockerfile), checked without a container engine: its command is
the handler, every file it copies exists and is in the build context, every pin it installs is a pin."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

from test_deploy import dockerignored

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "deploy" / "aws" / "Dockerfile"
HANDLER = "pixlens.aws.lambda_handler.handler"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    starts = [index for index, (kind, _) in enumerate(steps) if kind == "FROM"]
    return steps[starts[-1] :]


def test_the_command_is_the_handler_run_by_the_runtime_interface_client() -> None:
    final = final_stage()
    (entrypoint,) = [json.loads(arguments) for kind, arguments in final if kind == "ENTRYPOINT"]
    (command,) = [json.loads(arguments) for kind, arguments in final if kind == "CMD"]
    assert entrypoint[1:] == ["-m", "awslambdaric"] and entrypoint[0].startswith("/opt/pixlens/bin/python")
    assert command == [HANDLER]
    module, name = HANDLER.rsplit(".", 1)
    assert callable(getattr(importlib.import_module(module), name))
    env = " ".join(arguments for kind, arguments in final if kind == "ENV")
    assert "PIXLENS_HOME=/tmp/pixlens" in env  # the only writable place in Lambda


def test_every_copied_file_exists_and_is_in_the_build_context() -> None:
    copies = [arguments for kind, arguments in instructions() if kind == "COPY" and "--from=" not in arguments]
    assert copies
    for arguments in copies:
        sources = [part for part in arguments.split() if not part.startswith("--")][:-1]
        for source in sources:
            path = ROOT / source
            assert path.exists(), f"COPY {source}: no such file"
            files = [path] if path.is_file() else [found for found in path.rglob("*") if found.is_file()]
            names = [str(found.relative_to(ROOT)) for found in files]
            assert any(not dockerignored(name) for name in names), f"COPY {source}: left out by .dockerignore"
    for model in (ROOT / "src/pixlens/models").rglob("*"):
        assert model.is_dir() or not dockerignored(str(model.relative_to(ROOT))), f"{model}: not in the image"


def test_the_base_image_names_no_registry_and_every_install_is_pinned() -> None:
    steps = instructions()
    assert ("ARG", "PYTHON_IMAGE=python:3.11-slim") in steps
    assert [arguments for kind, arguments in steps if kind == "FROM"] == [
        "${PYTHON_IMAGE} AS build",
        "${PYTHON_IMAGE} AS runtime",
    ]
    runs = " ; ".join(arguments for kind, arguments in steps if kind == "RUN")
    for pip in re.findall(r"pip install [^&;]*", runs):
        assert "--no-deps" in pip or "pip==" in pip, f"pip may bring in unpinned packages: {pip}"
        for word in pip.split()[2:]:
            if not word.startswith("-") and "/" not in word and word != ".":  # not an option, a file, pixlens
                assert re.fullmatch(r"[A-Za-z][\w.-]*==[\w.]+", word), f"not pinned: {word}"
