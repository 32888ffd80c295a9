"""The documents follow the code (as sqlite-utils' test_docs.py does): every command and
option of `uptake` is in docs/CLI.md, and every relative link, `make` target and `uptake`
command that README.md and docs/*.md name exists."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from etl.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
CLI_DOC = ROOT / "docs" / "CLI.md"
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The parser's subcommands, those the dashboard adds through its entry point too."""
    [action] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def options(parser: argparse.ArgumentParser) -> list[str]:
    """Every option string of a parser but --help."""
    return [
        option
        for action in parser._actions
        if not isinstance(action, argparse._HelpAction | argparse._SubParsersAction)
        for option in action.option_strings
    ]


def section(text: str, heading: str) -> str:
    """The text from a heading line to the next heading of the same or a higher level."""
    match = re.search(rf"^(#+) {re.escape(heading)}\s*$", text, flags=re.MULTILINE)
    assert match, f"docs/CLI.md has no heading {heading!r}"
    level = len(match.group(1))
    rest = text[match.end() :]
    end = re.search(rf"^#{{1,{level}}} ", rest, flags=re.MULTILINE)
    return rest[: end.start()] if end else rest


PARSER = build_parser()
COMMANDS = subcommands(PARSER)
CLI_TEXT = CLI_DOC.read_text()


def test_the_parser_has_the_commands_of_the_dashboard_too() -> None:
    assert {"ingest", "run", "serve", "export", "report", "demo"} <= set(COMMANDS)


def test_every_global_option_is_documented() -> None:
    text = section(CLI_TEXT, "Global options")
    missing = [option for option in options(PARSER) if f"`{option}" not in text]
    assert not missing, f"docs/CLI.md 'Global options' lacks {missing}"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_and_its_options_are_documented(command: str) -> None:
    text = section(CLI_TEXT, f"uptake {command}")
    # The view options of export and report are shared; they have their own section.
    if command in ("export", "report"):
        text += section(CLI_TEXT, "View options (export and report)")
    missing = [option for option in options(COMMANDS[command]) if f"`{option}" not in text]
    assert not missing, f"docs/CLI.md 'uptake {command}' lacks {missing}"


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def relative_links(document: Path) -> list[tuple[str, str]]:
    """(file, anchor) of the document's Markdown links that are not URLs; file "" is the
    document itself."""
    text = re.sub(r"```.*?```", "", document.read_text(), flags=re.DOTALL)
    links = [target.partition("#")[::2] for target in LINK.findall(text)]
    return [(file, anchor) for file, anchor in links if not re.match(r"^[a-z]+:", file)]


def anchors(document: Path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings: lower case, punctuation dropped,
    spaces as hyphens."""
    text = re.sub(r"```.*?```", "", document.read_text(), flags=re.DOTALL)
    headings = re.findall(r"^#+ (.+?)\s*$", text, flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_to_files_and_headings_that_exist(document: Path) -> None:
    broken = []
    for file, anchor in relative_links(document):
        target = document.parent / file if file else document
        if not target.exists():
            broken.append(file)
        elif anchor and target.suffix == ".md" and anchor not in anchors(target):
            broken.append(f"{file}#{anchor}")
    assert not broken, f"{document.relative_to(ROOT)} links to missing files: {broken}"


def named_in_documents(pattern: str) -> set[str]:
    return {name for doc in DOCUMENTS for name in re.findall(pattern, doc.read_text())}


def test_the_make_targets_the_documents_name_exist() -> None:
    named = named_in_documents(r"`make ([a-z][\w-]*)")
    targets = set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(), re.MULTILINE))
    readme = set(re.findall(r"`make ([a-z][\w-]*)", (ROOT / "README.md").read_text()))
    assert {"demo", "test"} <= readme, "README.md must name `make demo` and `make test`"
    assert named <= targets, (
        f"the documents name make targets the Makefile lacks: {named - targets}"
    )


def test_the_commands_the_documents_name_exist() -> None:
    named = named_in_documents(r"`uptake ([a-z]+)")
    assert named <= set(COMMANDS), f"the documents name unknown commands: {named - set(COMMANDS)}"
