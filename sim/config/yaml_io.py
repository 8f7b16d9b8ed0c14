"""The one YAML reader for every file the project reads (scenarios, sweeps, ``--set`` values).

Rules, the same for every file:

- YAML 1.2 scalars: only ``true``/``false`` are booleans (``off``, ``no``, ``yes`` stay
  strings), ``1e6`` is a float, ``.inf``/``.nan`` parse as floats (the schemas then reject
  them), and dates stay strings (the schemas parse them with a clear error);
- a duplicate key in a mapping is an error naming the key and both lines;
- anchors, aliases and merge keys (``&a``, ``*a``, ``<<``) are refused: a few hundred bytes of
  nested aliases can otherwise expand to gigabytes ("billion laughs");
- at most :data:`MAX_BYTES` of text and :data:`MAX_DEPTH` levels of nesting, so no input can
  exhaust memory or the stack before its error.

:func:`dump_yaml` writes data that this reader reads back equal: a string that would read as
another type (``1e5``, ``true``, ``null``, ``off`` is fine) is quoted.

Every problem is one :class:`YamlError` line: ``<where>:<line>:<column>: YAML syntax error:
<problem>`` (or ``<where>: size: must be at most <MAX_BYTES> bytes``).
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml

__all__ = ["MAX_BYTES", "MAX_DEPTH", "YamlError", "dump_yaml", "parse_yaml", "read_yaml_file"]

#: largest text accepted (bytes of UTF-8)
MAX_BYTES = 1 << 20
#: deepest nesting of mappings and lists accepted
MAX_DEPTH = 32


class YamlError(ValueError):
    """A YAML text that cannot be read: one line naming where and why."""


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans and floats, no timestamps, no aliases, no duplicate
    keys and a nesting limit."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed", event.start_mark
            )
        event = self.peek_event()
        if getattr(event, "anchor", None) is not None:
            raise yaml.composer.ComposerError(
                None, None, "anchors (&name) are not allowed", event.start_mark
            )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nesting deeper than {MAX_DEPTH} levels", event.start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_REPLACED_TAGS = (
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:timestamp",
    "tag:yaml.org,2002:merge",
)

_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag not in _REPLACED_TAGS]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)"
        r"|\.[0-9_]+(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if not isinstance(key, Hashable):
            continue  # construct_mapping below reports the unhashable key
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first at line {seen[key]})",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_yaml(text: str, where: str) -> Any:
    """The data of YAML ``text`` read by the rules above; ``where`` names the source in the
    error (a file path, or ``override 'a.b=1'``)."""
    if len(text) > MAX_BYTES:
        raise YamlError(f"{where}: size: must be at most {MAX_BYTES} bytes")
    try:
        return yaml.load(text, Loader=_Loader)
    except (yaml.YAMLError, ValueError, RecursionError) as err:
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None) or (str(err).splitlines() or ["invalid"])[0]
        if mark is not None:
            line, col = mark.line + 1, mark.column + 1
            raise YamlError(f"{where}:{line}:{col}: YAML syntax error: {problem}") from None
        raise YamlError(f"{where}: YAML syntax error: {problem}") from None


def read_yaml_file(path: str | Path, where: str | None = None) -> Any:
    """The data of the YAML file at ``path``, read by :func:`parse_yaml` (at most
    :data:`MAX_BYTES` are ever read); ``where`` names it in errors (default: the path)."""
    where = str(path) if where is None else where
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as err:
        raise YamlError(f"{where}: cannot read: {err.strerror or err}") from None
    if len(data) > MAX_BYTES:
        raise YamlError(f"{where}: size: must be at most {MAX_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise YamlError(f"{where}: cannot read: not UTF-8 text ({err.reason})") from None
    return parse_yaml(text, where)


class _Dumper(yaml.SafeDumper):
    """SafeDumper that quotes every string this module's reader would not read back as itself."""


def _represent_str(dumper: _Dumper, data: str) -> yaml.ScalarNode:
    node = dumper.represent_scalar("tag:yaml.org,2002:str", data)
    if node.style is None:
        try:
            same = yaml.load(data, Loader=_Loader) == data
        except (yaml.YAMLError, ValueError, RecursionError):
            same = False
        if not same:
            node.style = '"'
    return node


_Dumper.add_representer(str, _represent_str)


def dump_yaml(data: Any) -> str:
    """Block-style YAML text of ``data`` (keys sorted) that :func:`parse_yaml` reads back equal."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=True, default_flow_style=False, width=100)
