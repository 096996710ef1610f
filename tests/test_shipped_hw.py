"""Shipped hardware files state what makes their chip itself, not the schema's defaults.

The schema (``archsim/config/``) is the one home of every default and of the source it cites. The default
chip is those defaults and its device, so ``hw_configs/default.yaml`` (no ``base:``) may state nothing the
schema already says. A file describing another chip inherits from a base; it may restate a value it would
inherit only as a fact of its own chip that must survive a change of the default, and its line's comment
says so (the chip's source). A key is a restatement when removing it leaves the resolved chip unchanged.
"""

import re
import shutil
from pathlib import Path

import pytest
import yaml

from archsim.config import load_hw_config, to_plain
from archsim.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
HW_FILES = sorted((ROOT / "hw_configs").glob("*.yaml"))


def leaf_keys(node: yaml.Node, path: tuple = ()) -> list[tuple[tuple, int]]:
    """(key path, line index) of every leaf key of a composed YAML mapping (``base`` left out)."""
    found = []
    for key_node, value_node in node.value:
        key = key_node.value
        if not path and key == "base":
            continue
        if isinstance(value_node, yaml.MappingNode) and value_node.value:
            found += leaf_keys(value_node, path + (key,))
        else:
            found.append((path + (key,), key_node.start_mark.line))
    return found


def without(tree: dict, path: tuple) -> dict:
    """A copy of ``tree`` without the key at ``path`` (and without a section that becomes empty)."""
    if len(path) == 1:
        return {k: v for k, v in tree.items() if k != path[0]}
    rest = without(tree[path[0]], path[1:])
    return {k: v for k, v in tree.items() if k != path[0]} | ({path[0]: rest} if rest else {})


def restated_keys(path: Path, folder: Path) -> list[tuple[str, str]]:
    """(dotted key, its line) of every key of ``path`` that does not change the resolved chip.

    ``folder`` is a scratch copy of hw_configs, so that ``base:`` paths resolve as they do in place."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    tree = yaml.safe_load(text)
    resolved = to_plain(load_hw_config(path))
    scratch = folder / f"without_a_key_{path.name}"
    found = []
    for key, line in leaf_keys(yaml.compose(text)):
        reduced = without(tree, key)
        scratch.write_text(yaml.safe_dump(reduced, sort_keys=False) if reduced else "{}\n", encoding="utf-8")
        try:
            unchanged = to_plain(load_hw_config(scratch)) == resolved
        except ConfigError:  # the chip needs the key (without it, another of its keys is out of range)
            unchanged = False
        if unchanged:
            found.append((".".join(map(str, key)), lines[line]))
    return found


@pytest.fixture
def scratch_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "hw_configs"
    shutil.copytree(ROOT / "hw_configs", folder)
    return folder


@pytest.mark.parametrize("path", HW_FILES, ids=[p.name for p in HW_FILES])
def test_shipped_hw_file_restates_no_default(path: Path, scratch_folder: Path):
    has_base = "base" in yaml.safe_load(path.read_text(encoding="utf-8"))
    problems = []
    for key, line in restated_keys(path, scratch_folder):
        if not has_base:
            problems.append(f"{key}: the schema's default already (drop it from {path.name})")
        elif not re.search(r"\s#", line):
            problems.append(f"{key}: the value it inherits; drop it, or say in a comment why this chip states it")
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


def test_restatement_is_detected(scratch_folder: Path):
    """The check finds a restated default and a restated inherited value, and only those."""
    base = scratch_folder / "base_chip.yaml"
    base.write_text("clock: 1GHz\ntile: {rows: 128}\n", encoding="utf-8")  # clock restates the schema default
    child = scratch_folder / "child_chip.yaml"
    child.write_text("base: base_chip.yaml\ntile:\n  rows: 128\n  cols: 64\n", encoding="utf-8")
    assert [key for key, _ in restated_keys(base, scratch_folder)] == ["clock"]
    assert [key for key, _ in restated_keys(child, scratch_folder)] == ["tile.rows"]
