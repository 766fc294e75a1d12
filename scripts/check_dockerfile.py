"""Checks a Dockerfile offline: `python scripts/check_dockerfile.py DOCKERFILE [CONTEXT]`.

Parsed with `dockerfile-parse` (pinned in pyproject.toml's dev list); a problem is one line
naming the file and line. What is checked: every instruction is one Docker knows, the first
one (after ARGs) is FROM, exec-form CMD/ENTRYPOINT/SHELL are JSON arrays of strings,
`COPY --from` names an earlier stage (or an image), and every COPY/ADD source taken from the
build context exists in it and is not left out by its .dockerignore. Used by check_compose.py
for every `build:` of the compose file.
"""

from __future__ import annotations

import fnmatch
import io
import json
import pathlib
import shlex
import sys

from dockerfile_parse import DockerfileParser

INSTRUCTIONS = frozenset(
    {
        "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK",
        "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME",
        "WORKDIR",
    }
)  # fmt: skip
EXEC_FORM = frozenset({"CMD", "ENTRYPOINT", "SHELL"})


def _ignore_patterns(context: pathlib.Path) -> list[str]:
    path = context / ".dockerignore"
    if not path.is_file():
        return []
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line.rstrip("/") for line in lines if line and not line.startswith("#")]


def _ignored(relative: str, patterns: list[str]) -> bool:
    """Whether .dockerignore leaves `relative` (or a folder holding it) out of the context."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        keep = pattern.startswith("!")
        body = pattern.lstrip("!").lstrip("/")
        alternatives = [body] + ([body[3:]] if body.startswith("**/") else [])
        for prefix in prefixes:
            if any(fnmatch.fnmatchcase(prefix, alt) for alt in alternatives):
                ignored = not keep
            elif body.startswith("**/") and fnmatch.fnmatchcase(prefix.split("/")[-1], body[3:]):
                ignored = not keep
    return ignored


def _sources(value: str) -> tuple[dict[str, str], list[str]]:
    """The flags (--from=...) and source paths of a COPY/ADD value (the last word is the
    destination)."""
    if value.lstrip().startswith("["):
        words = json.loads(value)
    else:
        words = shlex.split(value)
    flags = {}
    while words and words[0].startswith("--"):
        name, _, flag_value = words.pop(0)[2:].partition("=")
        flags[name] = flag_value
    return flags, words[:-1]


def problems(dockerfile: pathlib.Path, context: pathlib.Path) -> list[str]:
    """Every problem found in `dockerfile` built with `context`, one line each."""
    if not dockerfile.is_file():
        return [f"{dockerfile}: no such Dockerfile"]
    if not context.is_dir():
        return [f"{context}: no such build context"]
    parser = DockerfileParser(fileobj=io.BytesIO(dockerfile.read_bytes()))
    found: list[str] = []
    stages: list[str] = []
    seen_from = False
    patterns = _ignore_patterns(context)
    for item in parser.structure:
        instruction, value = item["instruction"], item["value"]
        where = f"{dockerfile}:{item['startline'] + 1}"
        if instruction == "COMMENT":
            continue
        if instruction not in INSTRUCTIONS:
            found.append(f"{where}: unknown instruction {instruction}")
            continue
        if not seen_from and instruction not in ("ARG", "FROM"):
            found.append(f"{where}: {instruction} before the first FROM")
        if instruction == "FROM":
            seen_from = True
            words = value.split()
            if not words:
                found.append(f"{where}: FROM names no image")
            if len(words) == 3 and words[1].upper() == "AS":
                stages.append(words[2])
        elif instruction in EXEC_FORM and value.lstrip().startswith("["):
            try:
                parsed = json.loads(value)
            except json.JSONDecodeError as exc:
                found.append(f"{where}: {instruction} is not a valid JSON array: {exc.msg}")
                continue
            if not all(isinstance(word, str) for word in parsed):
                found.append(f"{where}: {instruction} must be a JSON array of strings")
        elif instruction in ("COPY", "ADD"):
            found.extend(_copy_problems(where, instruction, value, context, stages, patterns))
    if not seen_from:
        found.append(f"{dockerfile}: no FROM instruction")
    return found


def _copy_problems(
    where: str,
    instruction: str,
    value: str,
    context: pathlib.Path,
    stages: list[str],
    patterns: list[str],
) -> list[str]:
    try:
        flags, sources = _sources(value)
    except ValueError as exc:
        return [f"{where}: {instruction} cannot be read: {exc}"]
    if not sources:
        return [f"{where}: {instruction} needs a source and a destination"]
    stage = flags.get("from")
    if stage is not None:
        # Another stage (by name or index) or an image reference (has ':' or '/').
        if stage in stages or stage.isdigit() or ":" in stage or "/" in stage:
            return []
        return [f"{where}: {instruction} --from={stage} names no earlier stage"]
    found = []
    for source in sources:
        if instruction == "ADD" and "://" in source:
            continue
        matches = sorted(context.glob(source.lstrip("/"))) if source.strip("/.") else [context]
        if not matches:
            found.append(f"{where}: {instruction} source {source} is not in the context {context}")
            continue
        for match in matches:
            relative = match.relative_to(context).as_posix()
            if relative != "." and _ignored(relative, patterns):
                found.append(
                    f"{where}: {instruction} source {source} is excluded by "
                    f"{context / '.dockerignore'}"
                )
                break
    return found


def main(argv: list[str]) -> int:
    dockerfile = pathlib.Path(argv[0])
    context = pathlib.Path(argv[1]) if len(argv) > 1 else dockerfile.parent
    found = problems(dockerfile, context)
    for line in found:
        print(line, file=sys.stderr)
    if found:
        return 1
    print(f"{dockerfile}: valid")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
