"""The documentation in ``docs/`` is a specification too (DESIGN §11): every hook and every CLI
command and option is documented, and every example runs."""

from __future__ import annotations

import importlib
import inspect
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import click
import pytest

from waypoint_hooks import ReportDecodeError, errors, hookspecs, report_from_json
from waypoint_hooks.cli.commands import main
from waypoint_hooks.cli.lazy import LazyCommand, LazyGroup
from waypoint_hooks.config.document import _STATUS_KEYS, load_config
from waypoint_hooks.config.uses import check_plugins
from waypoint_hooks.errors import ConfigFileError
from waypoint_hooks.host import AUTOLOAD_ENV, PluginManager

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
#: How long one Python example may run.
EXAMPLE_TIMEOUT = 120


@attrs.frozen
class Block:
    """A fenced code block of a Markdown file."""

    path: Path
    #: The line of its opening fence.
    line: int
    language: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


_FENCE = re.compile(r"^(`{3,})([\w+-]*)\s*$")


def _blocks(path: Path) -> Iterator[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        index += 1
        if opening is None:
            continue
        start, fence, body = index, opening.group(1), []
        while index < len(lines) and lines[index].rstrip() != fence:
            body.append(lines[index])
            index += 1
        assert index < len(lines), f"{path.relative_to(ROOT)}:{start}: code block never closed"
        index += 1
        yield Block(path, start, opening.group(2).lower(), "\n".join(body) + "\n")


def _doc_files() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


def _params(
    language: str,
    documents: list[Path] | None = None,
    only: Callable[[Block], bool] = lambda block: True,
) -> list[Any]:
    """One pytest param per block of ``language`` (that ``only`` accepts), with an id naming
    its file and its index among that file's blocks of the language."""
    params = []
    for path in documents if documents is not None else _doc_files():
        if not path.exists():
            continue  # a test of its own says that the file is missing
        blocks = [block for block in _blocks(path) if block.language == language]
        for index, block in enumerate(blocks):
            if only(block):
                params.append(pytest.param(block, id=f"{path.name}-{index}"))
    return params


def _read(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


# --- the hook reference ---------------------------------------------------------------------


def _hookspecs() -> list[Any]:
    return [
        value
        for value in vars(hookspecs).values()
        if inspect.isfunction(value) and value.__module__ == hookspecs.__name__
    ]


@pytest.mark.parametrize("spec", _hookspecs(), ids=lambda spec: spec.__name__)
def test_every_hookspec_is_in_the_hook_reference_with_its_exact_signature(spec: Any) -> None:
    arguments = ", ".join(inspect.signature(spec).parameters)
    line = f"def {spec.__name__}({arguments})"
    if line not in _read("hooks.md"):
        pytest.fail(f"docs/hooks.md does not show `{line}`", pytrace=False)


# --- the CLI reference ----------------------------------------------------------------------


def _sections(text: str) -> dict[str, str]:
    """The text under each ``## heading``, by the heading without its backticks."""
    parts = re.split(r"^## (.+)$", text, flags=re.MULTILINE)
    return {
        heading.replace("`", "").strip(): body
        for heading, body in zip(parts[1::2], parts[2::2], strict=True)
    }


def _option_names(command: click.Command) -> list[str]:
    """How each option of ``command`` is written: its long names, or its short one."""
    names = []
    for param in command.params:
        if not isinstance(param, click.Option):
            continue
        spelled = [*param.opts, *param.secondary_opts]
        long = [name for name in spelled if name.startswith("--")]
        names.extend(long or spelled)
    return names


def _commands() -> list[tuple[str, click.Command]]:
    # Each command itself, not the stand-in the group lists until it is used.
    assert isinstance(main, LazyGroup)
    return [
        (name, command.load() if isinstance(command, LazyCommand) else command)
        for name, command in sorted(main.commands.items())
    ]


def test_the_cli_reference_documents_every_global_option() -> None:
    sections = _sections(_read("cli.md"))
    assert "Global options" in sections, "docs/cli.md has no '## Global options' section"
    missing = [name for name in _option_names(main) if f"`{name}" not in sections["Global options"]]
    assert not missing, f"global options missing from docs/cli.md: {missing}"


@pytest.mark.parametrize(("name", "command"), _commands(), ids=[name for name, _ in _commands()])
def test_the_cli_reference_documents_every_command_and_its_options(
    name: str, command: click.Command
) -> None:
    sections = _sections(_read("cli.md"))
    assert name in sections, f"docs/cli.md has no '## `{name}`' section for the {name} command"
    missing = [option for option in _option_names(command) if f"`{option}" not in sections[name]]
    assert not missing, f"options of `{name}` missing from its section in docs/cli.md: {missing}"


# --- the configuration reference ------------------------------------------------------------


@pytest.mark.parametrize("key", _STATUS_KEYS)
def test_the_configuration_reference_documents_every_status_key(key: str) -> None:
    assert f"`{key}`" in _read("configuration.md"), f"status key {key!r} is not documented"


def _complete_config(block: Block) -> bool:
    """A whole config file, not a fragment of one."""
    return block.text.lstrip().startswith("project =")


@pytest.mark.parametrize("block", _params("hcl", [DOCS / "configuration.md"], _complete_config))
def test_every_complete_config_file_in_the_configuration_reference_loads(
    block: Block, tmp_path: Path
) -> None:
    _load(block, tmp_path / "waypoint.hcl")


def _load(block: Block, path: Path) -> None:
    """Load ``block`` as the config file ``path``; check the plugins' settings too when every
    plugin it uses is a builtin one."""
    path.write_text(block.text, encoding="utf-8")
    try:
        project = load_config(path)
        builtins = PluginManager.load(autoload=False)
        available = {plugin.name for plugin in builtins.plugins if plugin.error is None}
        used = {
            use.plugin
            for app in project.apps.values()
            for use in (app.deploy, app.release)
            if use is not None
        } | {notify.use.plugin for notify in project.notify.values()}
        if used <= available:
            check_plugins(project, builtins)
    except ConfigFileError as exc:
        where = block.where
        if exc.line is not None:  # the block's line 1 is the one after its opening fence
            where = f"{block.path.relative_to(ROOT)}:{block.line + exc.line}"
        pytest.fail(f"the config file at {where}: {exc.message}", pytrace=False)


def test_the_configuration_reference_has_complete_config_files() -> None:
    blocks = [b for b in _blocks(DOCS / "configuration.md") if b.language == "hcl"]
    assert sum(_complete_config(block) for block in blocks) >= 2


# --- JSON examples --------------------------------------------------------------------------


def _reports(value: Any) -> Iterator[Any]:
    """Every object in ``value`` that is a wire-format report (it has ``resources``)."""
    if isinstance(value, dict):
        if "resources" in value:
            yield value
            return
        for item in value.values():
            yield from _reports(item)
    elif isinstance(value, list):
        for item in value:
            yield from _reports(item)


@pytest.mark.parametrize("block", _params("json"))
def test_every_json_example_parses_and_its_reports_decode(block: Block, tmp_path: Path) -> None:
    try:
        document = json.loads(block.text)
    except ValueError as exc:
        pytest.fail(f"{block.where}: not JSON: {exc}")
    for report in _reports(document):
        try:
            report_from_json(json.dumps(report))
        except ReportDecodeError as exc:
            pytest.fail(f"{block.where}: a report that does not decode: {exc}", pytrace=False)
    if block.path.name == "configuration.md" and isinstance(document, dict):
        _load(block, tmp_path / "waypoint.hcl.json")


def test_the_report_format_shows_a_report_that_decodes() -> None:
    blocks = [b for b in _blocks(DOCS / "reports.md") if b.language == "json"]
    reports = [json.loads(block.text) for block in blocks]
    examples = [report for report in reports if isinstance(report, dict) and "resources" in report]
    assert examples, "docs/reports.md has no JSON example of a report"
    for example in examples:
        decoded = report_from_json(json.dumps(example))
        assert decoded.health is not None
        assert decoded.generated_time is not None


# --- Python examples ------------------------------------------------------------------------


@pytest.mark.parametrize("block", _params("python"))
def test_every_python_example_runs(block: Block, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(block.text, encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    done = subprocess.run(
        # An example shows the API as it stays: what goes in 1.0 fails it.
        [sys.executable, "-W", "error::DeprecationWarning", str(script)],
        cwd=work,
        env={**os.environ, AUTOLOAD_ENV: "1"},
        capture_output=True,
        text=True,
        timeout=EXAMPLE_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(
            f"the example at {block.where} exited with {done.returncode}:\n"
            f"{done.stdout}{done.stderr}",
            pytrace=False,
        )


def test_the_docs_have_python_examples() -> None:
    assert len(_params("python")) >= 10


@pytest.mark.parametrize(
    ("module", "heading"),
    [
        ("waypoint_hooks", "### `NAME`"),
        ("waypoint_hooks.host", "### `host.NAME`"),
        ("waypoint_hooks.resources", "### `resources.NAME`"),
    ],
)
def test_the_api_reference_documents_exactly_the_public_names(module: str, heading: str) -> None:
    text = (DOCS / "api.md").read_text(encoding="utf-8")
    pattern = "^" + re.escape(heading).replace("NAME", r"(\w+)") + "$"
    documented = re.findall(pattern, text, flags=re.MULTILINE)
    assert sorted(documented) == sorted(importlib.import_module(module).__all__)
    assert len(documented) == len(set(documented)), "a name is documented twice"


# --- the README and the demo, as a newcomer meets them -----------------------------------------


def test_the_readme_stops_the_demo_server_by_its_pid_not_by_a_pattern() -> None:
    # A pattern matches any user's process of that command line; the pid is the deployment's.
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "pkill" not in readme
    assert "python3[PID]" in readme


def test_ci_runs_exactly_the_test_command_the_readme_gives() -> None:
    readme = _sections((ROOT / "README.md").read_text(encoding="utf-8"))["Run the tests"]
    command = re.search(r"```\n(.+?)\n```", readme, flags=re.S)
    assert command is not None, "the README's test command is not a code block"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert ci[-1] == command.group(1)


def test_the_demo_under_serve_shows_a_change_within_seconds() -> None:
    demo = load_config(ROOT / "examples" / "demo" / "waypoint.hcl")
    assert all(app.status.interval <= 10 for app in demo.apps.values())


def test_the_docker_demo_says_how_to_start_a_daemon_without_systemd() -> None:
    demo = (ROOT / "examples" / "docker-demo" / "README.md").read_text(encoding="utf-8")
    daemon = _sections(demo)["The daemon"]
    assert "service docker start" in daemon
    assert "dockerd --data-root" in daemon  # by hand, beside no other daemon
    assert "DOCKER_HOST=unix://" in daemon


def test_the_postgresql_state_docs_give_a_minimal_server_set_up() -> None:
    text = _read("configuration.md")
    section = re.split(r"^#{1,3} ", text.split("### State in PostgreSQL")[1], flags=re.M)[0]
    for step in ("initdb", "pg_ctl", "createuser", "createdb", "postgresql:///waypoint?host="):
        assert step in section, f"the PostgreSQL state's docs do not show {step}"


# --- links ----------------------------------------------------------------------------------

#: A Markdown link or image, ``[text](target)`` or ``[text](target "title")``: its target.
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_CODE_SPAN = re.compile(r"(`+).+?\1")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$")
#: Documents whose relative links are checked: the docs and the README that links into them.
_LINKED = [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]


def _prose(path: Path) -> Iterator[tuple[int, str]]:
    """Each line of ``path`` outside fenced code blocks, with its number."""
    fence = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if fence is not None:
            if line.rstrip() == fence:
                fence = None
            continue
        opening = _FENCE.match(line)
        if opening is not None:
            fence = opening.group(1)
            continue
        yield number, line


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading: its text in lower case, without punctuation but
    ``-`` and ``_``, each space a hyphen."""
    text = _LINK.sub(lambda link: link.group(0)[1 : link.group(0).index("]")], heading)
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    """The anchors of the headings of ``path``; a repeated one also with ``-1``, ``-2``…"""
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    for _, line in _prose(path):
        heading = _HEADING.match(line)
        if heading is None:
            continue
        slug = _slug(heading.group(1))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def _links(path: Path) -> Iterator[tuple[int, str]]:
    """Every link of ``path`` within the repository (not a URL), with its line."""
    for number, line in _prose(path):
        for link in _LINK.finditer(_CODE_SPAN.sub("", line)):
            target = link.group(1)
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
                continue
            yield number, target


def _broken_links(path: Path, root: Path = ROOT) -> list[str]:
    """Where ``path`` links to a file that does not exist, or to no heading of a Markdown
    file, each as ``FILE:LINE: TARGET`` (``FILE`` relative to ``root``)."""
    broken = []
    for number, target in _links(path):
        file, _, anchor = target.partition("#")
        linked = (path.parent / file).resolve() if file else path
        where = f"{path.relative_to(root)}:{number}: {target}"
        if not linked.exists():
            broken.append(f"{where} (no such file)")
        elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
            broken.append(f"{where} (no heading #{anchor} in {linked.relative_to(root)})")
    return broken


@pytest.mark.parametrize("path", _LINKED, ids=lambda path: path.name)
def test_every_link_within_the_repository_leads_to_a_file_and_heading(path: Path) -> None:
    broken = _broken_links(path)
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_the_link_check_finds_a_missing_file_and_a_missing_heading(tmp_path: Path) -> None:
    """The check above can fail; a repeated heading's second anchor (GitHub's ``-1``), a
    heading with code in it, a URL, and links inside code are not broken links."""
    (tmp_path / "other.md").write_text("# Other\n\n## Same\n\n## Same\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "# A `page`: here\n\n"
        "[ok](other.md#same-1) [ok](#a-page-here) [ok](other.md) [web](https://example.org)\n"
        "[gone](missing.md) [no heading](other.md#same-2)\n"
        "```\n[in code](missing.md)\n```\n"
        "`[a span](missing.md)`\n",
        encoding="utf-8",
    )
    assert _broken_links(page, tmp_path) == [
        "page.md:4: missing.md (no such file)",
        "page.md:4: other.md#same-2 (no heading #same-2 in other.md)",
    ]


def _build_site(source: Path, site: Path) -> subprocess.CompletedProcess[str]:
    mkdocs = Path(sys.executable).parent / "mkdocs"
    return subprocess.run(
        [str(mkdocs), "build", "--strict", "-f", str(source / "mkdocs.yml"), "-d", str(site)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_docs_build_as_a_site_with_every_page_in_its_nav(tmp_path: Path) -> None:
    """``mkdocs build --strict``: every page is in the nav, and every link and anchor between
    the pages resolves."""
    built = _build_site(ROOT, tmp_path / "site")
    assert built.returncode == 0, built.stdout + built.stderr
    assert (tmp_path / "site" / "design" / "index.html").exists()


def test_a_site_with_a_broken_anchor_does_not_build(tmp_path: Path) -> None:
    """The strict build fails on what it is there to catch."""
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "mkdocs.yml").write_text((ROOT / "mkdocs.yml").read_text())
    (copy / "docs").mkdir()
    for page in DOCS.glob("*.md"):
        (copy / "docs" / page.name).write_text(page.read_text())
    index = copy / "docs" / "index.md"
    index.write_text(index.read_text() + "\nSee [nowhere](design.md#no-such-heading).\n")
    built = _build_site(copy, tmp_path / "site")
    assert built.returncode != 0
    assert "no-such-heading" in built.stdout + built.stderr


#: A line of the tree docs/api.md draws: the class, indented under its base, with its
#: builtin bases (``ConfigError(ValueError)``), then what it is for.
_TREE_LINE = re.compile(
    r"^(?P<indent>(?:    )*)(?P<name>\w+)(?:\((?P<builtins>[\w, ]+)\))?(?:  .*)?$"
)


def _drawn_tree() -> set[tuple[str, str | None, tuple[str, ...]]]:
    """Each class of the tree docs/api.md draws: its name, its base in the tree, its builtin
    bases."""
    (block,) = [
        block
        for block in _blocks(DOCS / "api.md")
        if block.language == "text" and block.text.startswith("WaypointHooksError")
    ]
    drawn = set()
    parents: list[str] = []
    for line in block.text.splitlines():
        match = _TREE_LINE.match(line)
        assert match is not None, f"{block.where}: {line!r} is not a line of the tree"
        depth = len(match["indent"]) // 4
        parents[depth:] = [match["name"]]
        builtins = tuple(match["builtins"].split(", ")) if match["builtins"] else ()
        drawn.add((match["name"], parents[depth - 1] if depth else None, builtins))
    return drawn


def test_the_api_reference_draws_the_exception_tree_as_the_classes_make_it() -> None:
    classes = [getattr(errors, name) for name in errors.__all__]
    made = {
        (
            cls.__name__,
            next((base.__name__ for base in cls.__bases__ if base in classes), None),
            tuple(base.__name__ for base in cls.__bases__ if base.__module__ == "builtins"),
        )
        for cls in classes
    }
    assert _drawn_tree() == made
