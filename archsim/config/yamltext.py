"""Reading configuration YAML safely: bounded size, nesting and alias expansion; strict keys; YAML 1.2 numbers.

Every YAML text archsim reads (hardware, workload and sweep files, ``--set`` values, a worker's resolved
configuration) goes through :func:`parse_yaml`, so these rules hold everywhere:

- at most :data:`MAX_FILE_BYTES` bytes, from a regular file (``/dev/zero`` or a FIFO is refused before it
  is opened);
- nesting at most :data:`MAX_DEPTH` levels and at most :data:`MAX_NODES` values once every alias is
  expanded (a few hundred bytes of nested aliases otherwise expand to gigabytes), no recursive aliases;
- a key written twice in one mapping is an error naming the key (YAML would keep the last silently);
- ``1e-3`` and ``1.0e6`` are numbers, as in YAML 1.2 (PyYAML's YAML 1.1 rules read them as strings).

Problems raise :class:`YamlProblem` with a key path (dotted, within the text) and a message; callers turn
it into a :class:`~archsim.errors.ConfigError` naming their file.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from archsim.errors import excerpt

#: Largest configuration text read (bytes); the shipped files are a few kB.
MAX_FILE_BYTES = 1 << 20
#: Deepest nesting of mappings and lists (the configuration schema needs about 5).
MAX_DEPTH = 32
#: Most values (scalars, lists and mappings) in one document after alias expansion.
MAX_NODES = 100_000

_MERGE_TAG = "tag:yaml.org,2002:merge"
# YAML 1.2 floats with an exponent but no dot, or a dot and an unsigned exponent (1e-3, 1.0e6, 2E+4).
_FLOAT_12 = re.compile(r"""^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$""")


class YamlProblem(Exception):
    """A YAML text that breaks one of the rules above; ``key_path`` is ``(file)`` or a dotted path."""

    def __init__(self, key_path: str, message: str):
        super().__init__(message)
        self.key_path = key_path
        self.message = message


class StrictLoader(yaml.SafeLoader):
    """SafeLoader with a nesting bound, duplicate-key errors and YAML 1.2 exponent floats."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._path: list[Any] = []

    def compose_node(self, parent: Any, index: Any) -> Any:
        if len(self._path) >= MAX_DEPTH:
            mark = self.peek_event().start_mark
            raise YamlProblem(
                _dotted(self._path),
                f"nested more than {MAX_DEPTH} levels deep (line {mark.line + 1}); expected a configuration tree",
            )
        step = index.value if isinstance(index, ScalarNode) else index
        self._path.append("?" if step is None else step)
        try:
            return super().compose_node(parent, index)
        finally:
            self._path.pop()

    def compose_mapping_node(self, anchor: Any) -> Any:
        node = super().compose_mapping_node(anchor)
        first_line: dict[str, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            key = key_node.value
            if key in first_line:
                raise YamlProblem(
                    _dotted(self._path + [key]),
                    f"key {excerpt(key)} is written twice in one mapping (lines {first_line[key]} "
                    f"and {key_node.start_mark.line + 1}); expected each key once",
                )
            first_line[key] = key_node.start_mark.line + 1
        return node


StrictLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_12, list("-+0123456789."))


def _dotted(path: list) -> str:
    parts = [str(p) for p in path if p != "?"]
    return ".".join(parts) if parts else "(file)"


def _check_expansion(root: Any) -> None:
    """Bound the size and depth of the node graph with every alias expanded (cycles are refused)."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:  # iterative post-order walk: the graph may be deep through aliases
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            children = _children(node)
            size[key] = 1 + sum(size[id(c)] for c in children)
            depth[key] = 1 + max((depth[id(c)] for c in children), default=0)
            active.discard(key)
            if size[key] > MAX_NODES:
                raise YamlProblem(
                    "(file)",
                    f"expands to more than {MAX_NODES} values (through aliases); expected a configuration tree",
                )
            if depth[key] > MAX_DEPTH:
                raise YamlProblem(
                    "(file)", f"nested more than {MAX_DEPTH} levels deep through aliases; expected a configuration tree"
                )
            continue
        if key in size:
            continue
        if key in active:
            raise YamlProblem("(file)", "an alias refers to a node that contains it; expected a tree")
        active.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in size)


def _children(node: Any) -> list:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def parse_yaml(text: str) -> Any:
    """Parse one YAML document under the rules above; raises :class:`YamlProblem` or ``yaml.YAMLError``."""
    if len(text) > MAX_FILE_BYTES:
        raise YamlProblem("(file)", f"is larger than {MAX_FILE_BYTES} bytes; expected a configuration file")
    loader = StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node)
        return loader.construct_document(node)
    except ValueError as exc:  # e.g. an integer longer than Python converts (4300 digits)
        raise YamlProblem("(file)", f"holds a value that cannot be read: {excerpt(str(exc))}") from None
    except RecursionError:
        raise YamlProblem("(file)", f"nested too deeply; expected at most {MAX_DEPTH} levels") from None
    finally:
        loader.dispose()


def yaml_error_text(exc: yaml.YAMLError) -> str:
    """``not valid YAML at line L, column C: problem`` for a PyYAML error."""
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or "syntax error"
    return f"not valid YAML{where}: {problem}"


def read_config_text(path: Path) -> str:
    """The text of a configuration file; refuses what is not a small regular UTF-8 file.

    Raises :class:`YamlProblem` (key path ``(file)``).
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise YamlProblem("(file)", "file not found") from None
    except OSError as exc:
        raise YamlProblem("(file)", f"cannot be read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise YamlProblem("(file)", "is a folder, expected a YAML file")
    if not stat.S_ISREG(info.st_mode):
        raise YamlProblem("(file)", "is not a regular file (a device, FIFO or socket); expected a YAML file")
    if info.st_size > MAX_FILE_BYTES:
        raise YamlProblem(
            "(file)", f"is {info.st_size} bytes; expected a configuration file of at most {MAX_FILE_BYTES} bytes"
        )
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise YamlProblem("(file)", f"cannot be read: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise YamlProblem("(file)", f"is larger than {MAX_FILE_BYTES} bytes; expected a configuration file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YamlProblem("(file)", f"is not UTF-8 text (byte {exc.start})") from None
