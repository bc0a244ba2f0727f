"""The README and docs/ tell the truth where a machine can check it: the README stays short,
every link lands, its command list is the tool's, every command line shown uses options the
command has, every `make` target named exists, and its figures are `make bench`'s."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]
MAX_README_LINES = 150

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
PLACEHOLDER = re.compile(r"\[\[[A-Z][A-Z0-9 -]*\]\]")  # [[DEMO OUTPUT]], a figure still to fill
CODE_FENCE = re.compile(r"^```")


def text(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but '-' and '_' dropped,
    spaces as '-'."""
    heading = re.sub(r"[`*]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", heading).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found, in_code = set(), False
    for line in text(page).splitlines():
        if CODE_FENCE.match(line):
            in_code = not in_code
        elif not in_code and line.startswith("#"):
            found.add(slug(line.lstrip("#")))
    return found


def code_lines(page: Path) -> list[str]:
    """Lines of code blocks: fenced, or indented by four spaces after a blank line."""
    lines, in_fence, in_indented, previous_blank = [], False, False, True
    for line in text(page).splitlines():
        if CODE_FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            lines.append(line)
            continue
        if line.startswith("    ") and (in_indented or previous_blank):
            in_indented = True
            lines.append(line)
        elif line.strip():
            in_indented = False
        previous_blank = not line.strip()
    return lines


def test_the_readme_is_short():
    lines = len(text(README).splitlines())
    assert lines <= MAX_README_LINES, (
        f"README.md has {lines} lines: keep it to what a newcomer needs (at most "
        f"{MAX_README_LINES}) and move reference material into docs/"
    )


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_link_lands(page):
    """Every relative link names a file of the checkout (not a generated or gitignored one),
    and every #anchor a heading of the page it points to."""
    broken = []
    for target in LINK.findall(text(page)):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.is_file():
            broken.append(f"{target}: no such file")
        elif "bench/results" in str(file):
            broken.append(f"{target}: results are not in the repository")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target}: no heading with that anchor in {file.name}")
    assert not broken, f"{page.name}: " + "; ".join(broken)


def help_commands() -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "edgecnn.cli", "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    listing = proc.stdout.split("Commands:", 1)[1]
    return [line.split()[0] for line in listing.splitlines() if line.startswith("  ")]


def readme_commands() -> list[str]:
    """The commands of the README's `## Commands` section, in its order."""
    section = text(README).split("\n## Commands", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\s+edgecnn (\w+)", section, re.M)


def test_the_readme_lists_every_command_of_the_tool_in_its_order():
    assert readme_commands() == help_commands()


@pytest.mark.parametrize("command", readme_commands())
def test_every_command_the_readme_names_has_help(command):
    proc = subprocess.run(
        [sys.executable, "-m", "edgecnn.cli", command, "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert f"Usage: edgecnn {command}" in proc.stdout


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_no_placeholder_is_left(page):
    assert not PLACEHOLDER.findall(text(page)), (
        f"{page.name}: fill in {PLACEHOLDER.findall(text(page))}"
    )


def shown_commands(page: Path) -> list[tuple[str, list[str]]]:
    """(command, its --options) of every `edgecnn COMMAND ...` in the page's code, with the
    lines that continue it (a trailing backslash, or a synopsis's indented '[--...' lines)."""
    shown: list[tuple[str, list[str]]] = []
    continues = False
    for line in code_lines(page):
        stripped = line.strip()
        start = re.match(r"^(?:[A-Z_]+=\S+\s+)*(?:\S*/)?edgecnn (\w+)(.*)$", stripped)
        if start:
            shown.append((start.group(1), []))
            rest = start.group(2)
        elif shown and (continues or re.match(r"^[\[-]", stripped)):
            rest = stripped
        else:
            continues = False
            continue
        options = re.findall(r"(?<![\w-])(--(?:[a-z][a-z0-9-]*)?)(?![\w-])", rest.split("#")[0])
        shown[-1][1].extend(options)
        continues = stripped.endswith("\\")
    return shown


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_command_line_shown_uses_real_options(page):
    from edgecnn.cli import cli

    def known(command: str) -> set[str]:
        names = {"--help"}
        for param in cli.commands[command].params:
            names.update(param.opts + param.secondary_opts)
        return names

    wrong = []
    for command, options in shown_commands(page):
        if command not in cli.commands:
            wrong.append(f"edgecnn {command}: no such command")
            continue
        for option in options:
            if option == "--":  # what follows goes to edgecnn run (`service ... -- RUN_OPTIONS`)
                command = "run"
            elif option not in known(command):
                wrong.append(f"edgecnn {command} {option}")
    assert not wrong, f"{page.name} shows options the tool does not have: {', '.join(wrong)}"


def test_every_make_target_named_exists():
    makefile = text(ROOT / "Makefile")
    targets = set(re.findall(r"^([a-z][\w-]*):", makefile, re.M))
    named = set()
    for page in PAGES:
        named.update(re.findall(r"`make ([a-z][\w-]*)", text(page)))
        for line in code_lines(page):
            named.update(re.findall(r"^\s*make ([a-z][\w-]*)", line))
    assert named - targets == set(), f"make targets named but missing: {named - targets}"


def test_the_readmes_figures_are_make_benchs():
    """The README's headline block is bench/report.py's: each figure in it is on the
    generated docs/benchmarks.md, with the machine and the date."""
    readme = text(README)
    block = readme.split("<!-- bench:headline -->", 1)[1].split("<!-- bench:end -->", 1)[0]
    page = text(ROOT / "docs" / "benchmarks.md")
    assert "Generated by `make bench`" in page
    date = re.search(r"on (\d{4}-\d\d-\d\d)", block)
    assert date and date.group(1) in page, "the README's date is not the benchmarks page's"
    figures = re.findall(r"\d[\d,]*\.?\d*\s?(?:%|ms|min|s|x|KiB)(?![\w])", block)
    assert len(figures) >= 5
    missing = [f for f in figures if f not in page]
    assert not missing, f"README figures not on docs/benchmarks.md: {missing}"
