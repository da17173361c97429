"""Reading a config file into one neutral tree of attributes and blocks, each with its line.

HCL native syntax is read from python-hcl2's lark tree (its nodes carry lines), walked in step
with hcl2's rule tree (its values serialize as ``hcl2.loads`` gives them); HCL JSON is read
again, token by token, once ``json.loads`` has found it valid. Reading HCL is the slow part of
loading a config, so what it produced is cached (``Cache``). Both readers and the cache are one
module because they share the tree they produce and the errors they raise.
"""

from __future__ import annotations

import itertools
import json
import re
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, final

from ..errors import ConfigFileError
from ..model.cachefile import read_entry, write_entry

if TYPE_CHECKING:
    from hcl2.rules.base import BodyRule
    from hcl2.utils import SerializationOptions
    from lark import Tree
    from lark.exceptions import UnexpectedInput

__all__ = [
    "MAX_NESTING",
    "Attribute",
    "Block",
    "Body",
    "Cache",
    "Shape",
    "decode",
    "read_hcl",
    "read_json",
]

# Bump when the cached form of a read file changes, so that older entries are not trusted.
_CACHE_FORMAT: Final = 2

#: How deep blocks, objects, lists, parentheses and interpolations may nest, together
#: (DESIGN §13): far deeper than any configuration, and shallow enough that the recursive
#: steps of reading never come near Python's recursion limit.
MAX_NESTING: Final = 64


def _too_deep(path: Path, line: int) -> ConfigFileError:
    return ConfigFileError(
        path,
        line,
        f"nested more than {MAX_NESTING} levels deep (blocks, objects, lists and brackets "
        "together); a configuration needs far fewer, so flatten it",
    )


def decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigFileError(
            path,
            data.count(b"\n", 0, exc.start) + 1,
            "the file is not UTF-8 text; save it as UTF-8",
        ) from None


# The tree's classes, and Shape, are plain: nothing compares or prints them, and attrs would
# generate and compile their methods at every start (issue 31).


@final
class Attribute:
    __slots__ = ("line", "name", "value")

    def __init__(self, name: str, value: Any, line: int) -> None:
        self.name = name
        #: As written: strings may still hold template sequences ("${"), checked in validation.
        self.value = value
        self.line = line


@final
class Block:
    __slots__ = ("body", "labels", "line", "name")

    def __init__(
        self, name: str, labels: tuple[str, ...], body: tuple[Attribute | Block, ...], line: int
    ) -> None:
        self.name = name
        self.labels = labels
        self.body = body
        self.line = line


Body = tuple[Attribute | Block, ...]


_SERIALIZATION: Final = {
    "with_comments": False,
    "explicit_blocks": True,
    # Values as a plugin wants them: heredocs and quoted strings as plain strings, 1e3 as a
    # number (kept as written, it would be the expression "${1e3}").
    "preserve_heredocs": False,
    "preserve_scientific_notation": False,
    "strip_string_quotes": True,
}


def read_hcl(path: Path, text: str) -> Body:
    # Imported here: hcl2 and lark take longer to import than the rest of a run's start-up,
    # and --help, --version and a cached config do without them.
    import hcl2
    from lark.exceptions import LarkError, UnexpectedInput

    try:
        # Not hcl2.loads: its with_meta option gives no lines (python-hcl2 8.1.4), and it keeps
        # only the last of two same-named attributes. The raw lark tree, whose nodes carry
        # lines, is walked in step with hcl2's rule tree, whose values serialize as loads's.
        tree = _parse_hcl(path, text)
        rules = hcl2.transform(tree, discard_comments=True)
        reader = _HclReader(path, hcl2.SerializationOptions(**_SERIALIZATION))
        return reader.body(tree.children[0], rules.body)
    except UnexpectedInput as exc:
        # An unexpected end of file may have no line (-1): it is on the last one.
        line = exc.line if exc.line > 0 else text.count("\n") + 1
        raise ConfigFileError(path, line, _syntax_message(exc)) from None
    except (LarkError, RuntimeError) as exc:  # hcl2's serializer raises RuntimeError too
        raise ConfigFileError(path, None, f"syntax error: {exc}") from None


# The tokens of python-hcl2's grammar that open a level of nesting, and those that close
# one ("${" and "%{" close with "}").
_OPENING: Final = frozenset({"LBRACE", "LSQB", "LPAR", "INTERP_START", "DIRECTIVE_START"})
_CLOSING: Final = frozenset({"RBRACE", "RSQB", "RPAR"})
# How deep the parse tree may be: MAX_NESTING levels of the deepest kind (an object, three
# tree levels each) and a long expression in them fit; the transform after parsing recurses
# once per level, and would exceed Python's limit past about 600.
_MAX_TREE_DEPTH: Final = 400


def _parse_hcl(path: Path, text: str) -> Tree[Any]:
    """hcl2's lark tree of ``text``; too deep a file is refused as soon as its tokens say so,
    before parsing the rest (100,000 levels would take seconds, then overflow the stack)."""
    from hcl2.parser import parser

    # The final newline is hcl2's own (parses_to_tree): its grammar ends a file with one.
    interactive = parser().parse_interactive(text + "\n")
    depth = 0
    token = None
    for token in interactive.iter_parse():
        if token.type in _OPENING:
            depth += 1
            if depth > MAX_NESTING:
                raise _too_deep(path, token.line or 1)
        elif token.type in _CLOSING:
            depth -= 1
    tree: Tree[Any] = interactive.feed_eof(token)  # type: ignore[no-untyped-call]
    _check_tree_depth(path, tree)
    return tree


def _check_tree_depth(path: Path, tree: Tree[Any]) -> None:
    """Refuse what nests without brackets (``1 + 1 + …``, ``a.b.c…``) too deeply to read."""
    from lark import Tree

    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > _MAX_TREE_DEPTH:
            raise ConfigFileError(
                path,
                getattr(node.meta, "line", None),
                f"an expression nested or chained over {_MAX_TREE_DEPTH} levels deep; "
                "write the value itself",
            )
        stack += [(child, depth + 1) for child in node.children if isinstance(child, Tree)]


def _syntax_message(exc: UnexpectedInput) -> str:
    from lark.exceptions import UnexpectedCharacters, UnexpectedToken

    if isinstance(exc, UnexpectedToken) and exc.token.type != "$END":
        # The lexer may take the rest of a line, and more, as one token: show its first line.
        found = str(exc.token).split("\n", 1)[0].strip()
    elif isinstance(exc, UnexpectedCharacters):
        found = exc.char
    else:
        return "syntax error: unexpected end of file; close the block, string or bracket left open"
    shown = f'"{found}"' if found else "end of line"
    return (
        f"syntax error at column {exc.column}: unexpected {shown}; "
        'write attributes as NAME = VALUE and blocks as NAME "LABEL" { ... }'
    )


_ITEMS: Final = ("attribute", "block")


@final
class _HclReader:
    """Walks the raw lark tree (lines) in step with hcl2's rule tree (values)."""

    def __init__(self, path: Path, options: SerializationOptions) -> None:
        self._path = path
        self._options = options

    def body(self, tree: Tree[Any], rules: BodyRule, braces: tuple[int, int] | None = None) -> Body:
        """``tree``'s items; ``braces``: the lines of its ``{`` and ``}``, if it is a block's."""
        from lark import Token, Tree

        nodes = [c for c in tree.children if isinstance(c, Tree) and c.data in _ITEMS]
        items = [c for c in rules.children if c.lark_name() in _ITEMS]
        self._check_layout(nodes, braces)
        body: list[Attribute | Block] = []
        for node, rule in zip(nodes, items, strict=True):
            if node.data == "attribute":
                name = rule.identifier.serialize(self._options)
                value = rule.expression.serialize(self._options)
                body.append(Attribute(name, value, node.meta.line))
                continue
            name, *labels = (label.serialize(self._options) for label in rule.labels)
            inner = next(c for c in node.children if isinstance(c, Tree) and c.data == "body")
            opening = next(
                c.line for c in node.children if isinstance(c, Token) and c.type == "LBRACE"
            )
            # The parser gives every token a line; the fallback is for the type checker.
            braces = (opening or node.meta.line, node.meta.end_line)
            block_body = self.body(inner, rule.body, braces)
            body.append(Block(name, tuple(labels), block_body, node.meta.line))
        return tuple(body)

    def _check_layout(self, nodes: list[Tree[Any]], braces: tuple[int, int] | None) -> None:
        # python-hcl2's grammar accepts layouts that HashiCorp's parser, and so Waypoint,
        # rejects: the file must mean the same to both.
        for before, after in itertools.pairwise(nodes):
            if after.meta.line <= _last_line(before):
                raise ConfigFileError(
                    self._path,
                    after.meta.line,
                    "syntax error: put each attribute and block on a line of its own",
                )
        if braces is None or not nodes:
            return
        opening, closing = braces
        first, last = nodes[0], nodes[-1]
        if first.meta.line == opening:
            if len(nodes) > 1 or first.data != "attribute" or closing != _last_line(first):
                raise ConfigFileError(
                    self._path,
                    opening,
                    "syntax error: a one-line block holds one attribute at most and no "
                    "block; start its content on the line after the {",
                )
        elif closing == _last_line(last):
            raise ConfigFileError(
                self._path, closing, "syntax error: put the closing } on a line of its own"
            )


def _last_line(node: Tree[Any]) -> int:
    # A heredoc's token takes the newline after it: the node then ends at column 1 of the next.
    return node.meta.end_line - 1 if node.meta.end_column == 1 else node.meta.end_line


# A JSON token of text that json.loads has accepted; a string holds no raw newline there.
_JSON_TOKEN: Final = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]|[^\s{}\[\]:,"]+')


@final
class _JsonObject:
    """A JSON object with the line of its ``{`` and of each member; duplicate keys are kept."""

    __slots__ = ("line", "members")

    def __init__(self, line: int, members: list[tuple[str, Any, int]]) -> None:
        self.line = line
        self.members = members


@final
class _JsonReader:
    """Reads JSON again, noting lines, once :func:`json.loads` has found it valid."""

    def __init__(self, path: Path, text: str) -> None:
        """Tokenize ``text``; too deep a file is refused here, before ``json.loads`` (whose
        recursion it would exhaust) and before the recursive reading of values."""
        self._tokens: list[tuple[str, int]] = []
        line, last, depth = 1, 0, 0
        for match in _JSON_TOKEN.finditer(text):
            line += text.count("\n", last, match.start())
            last = match.start()
            token = match.group()
            if token in ("{", "["):
                depth += 1
                if depth > MAX_NESTING:
                    raise _too_deep(path, line)
            elif token in ("}", "]"):
                depth -= 1
            self._tokens.append((token, line))
        self._next = 0

    def value(self) -> Any:
        token, line = self._take()
        if token == "{":
            return self._object(line)
        if token == "[":
            return self._array()
        return json.loads(token)

    def _take(self) -> tuple[str, int]:
        self._next += 1
        return self._tokens[self._next - 1]

    def _object(self, line: int) -> _JsonObject:
        members: list[tuple[str, Any, int]] = []
        if self._tokens[self._next][0] == "}":
            self._next += 1
            return _JsonObject(line, members)
        while True:
            key, key_line = self._take()
            self._take()  # the ":"
            members.append((json.loads(key), self.value(), key_line))
            if self._take()[0] == "}":
                return _JsonObject(line, members)

    def _array(self) -> list[Any]:
        items: list[Any] = []
        if self._tokens[self._next][0] == "]":
            self._next += 1
            return items
        while True:
            items.append(self.value())
            if self._take()[0] == "]":
                return items


@final
class Shape:
    """What a body may hold: its attributes, and its blocks with their labels and bodies.

    HCL JSON writes a block like an object value, so only this tells them apart.
    """

    __slots__ = ("attributes", "blocks")

    def __init__(
        self,
        attributes: tuple[str, ...] | None = (),
        blocks: Mapping[str, tuple[int, Shape | None]] | None = None,
    ) -> None:
        #: ``None``: any attribute (a plugin's settings).
        self.attributes = attributes
        #: Each block's number of labels and its body's shape (``None``: accepted and ignored).
        self.blocks: Mapping[str, tuple[int, Shape | None]] = blocks or {}

    @property
    def names(self) -> list[str]:
        """Every key it allows, attributes first."""
        return [*(self.attributes or ()), *self.blocks]


def read_json(path: Path, text: str, shape: Shape) -> Body:
    reader = _JsonReader(path, text)
    try:
        parsed = json.loads(text)
        # "\ud800" is valid JSON but no text: it could be neither stored nor printed.
        json.dumps(parsed, ensure_ascii=False).encode("utf-8")
        document = reader.value()
    except json.JSONDecodeError as exc:
        raise ConfigFileError(
            path, exc.lineno, f"JSON syntax error at column {exc.colno}: {exc.msg}"
        ) from None
    except UnicodeEncodeError:
        raise ConfigFileError(
            path, None, "a string holds a lone surrogate escape (like \\ud800); use real text"
        ) from None
    if not isinstance(document, _JsonObject):
        raise ConfigFileError(
            path, 1, 'the file must hold one JSON object: {"project": "NAME", "app": {...}}'
        )
    return _JsonBody(path).body(document, shape)


@final
class _JsonBody:
    """Turns HCL JSON objects into the same tree as HCL native syntax gives."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def body(self, document: _JsonObject, shape: Shape) -> Body:
        body: list[Attribute | Block] = []
        for key, value, line in document.members:
            if key == "//":  # HCL JSON's comment property
                continue
            if key not in shape.blocks:
                body.append(Attribute(key, self._value(value), line))
                continue
            count, inner = shape.blocks[key]
            for labels, content in self._blocks(key, value, count, (), line):
                block_body = self.body(content, inner) if inner is not None else ()
                body.append(Block(key, labels, block_body, content.line))
        return tuple(body)

    def _blocks(
        self, name: str, value: object, count: int, labels: tuple[str, ...], line: int
    ) -> Iterator[tuple[tuple[str, ...], _JsonObject]]:
        # Each level, the block's own and each label's, is an object or a list of them.
        if isinstance(value, list):
            for item in value:
                yield from self._blocks(name, item, count, labels, line)
        elif not isinstance(value, _JsonObject):
            raise ConfigFileError(
                self._path, line, f'"{name}" is a block; write it as a JSON object: "{name}": {{}}'
            )
        elif len(labels) == count:
            yield labels, value
        else:
            for label, inner, inner_line in value.members:
                yield from self._blocks(name, inner, count, (*labels, label), inner_line)

    def _value(self, value: object) -> Any:
        if isinstance(value, list):
            return [self._value(item) for item in value]
        if not isinstance(value, _JsonObject):
            return value
        result: dict[str, Any] = {}
        lines: dict[str, int] = {}
        for key, item, line in value.members:
            if key in result:
                raise ConfigFileError(
                    self._path, line, f'key "{key}" is given twice (also on line {lines[key]})'
                )
            result[key], lines[key] = self._value(item), line
        return result


def _encode(item: Attribute | Block) -> list[Any]:
    if isinstance(item, Attribute):
        return ["a", item.name, item.value, item.line]
    return ["b", item.name, list(item.labels), item.line, [_encode(i) for i in item.body]]


def _decode_item(item: object) -> Attribute | Block:
    match item:
        case ["a", str(name), value, int(line)]:
            return Attribute(name, value, line)
        case ["b", str(name), list(labels), int(line), list(body)] if all(
            isinstance(label, str) for label in labels
        ):
            return Block(name, tuple(labels), tuple(_decode_item(i) for i in body), line)
    raise ValueError(f"not a cached config item: {item!r}")


@final
class Cache:
    """A config file's read tree, kept in a directory while the file is unchanged.

    One entry per config file, overwritten when the file changes, so the directory does not
    grow.
    """

    def __init__(self, directory: Path, path: Path, size: int, mtime_ns: int, data: bytes) -> None:
        # Checksums, not hashes (hashlib loads OpenSSL, milliseconds of every start): two
        # paths of one checksum take turns in one file, each read again (the path is in the
        # key); an edit is missed only if it kept the size, the time to the nanosecond and
        # the checksum, which no editor does by chance.
        self._file = directory / f"config-{zlib.crc32(bytes(path)):08x}.json"
        self._key = {
            "format": _CACHE_FORMAT,
            "path": str(path),
            "size": size,
            "mtime_ns": mtime_ns,
            "crc32": zlib.crc32(data),
        }

    def load(self) -> Body | None:
        body = read_entry(self._file, self._key)
        try:
            return None if body is None else tuple(_decode_item(item) for item in body)
        except (ValueError, TypeError):
            # Corrupt: read the file as if there were no cache.
            return None

    def store(self, body: Body) -> None:
        write_entry(self._file, self._key, [_encode(item) for item in body])
