"""The profiles file as a bounded YAML document (SPEC §13).

PyYAML's safe loader refuses no duplicate key (the last one silently wins), and composes and
expands aliases without limit (a "billion laughs" file of a few hundred bytes becomes 10⁹ nodes
as soon as anything walks it). So the node tree is composed here from the parser's events,
iteratively, checking as it grows:

- a key twice in one mapping is a configuration error with file:line of both;
- nesting (also through aliases) is at most ``MAX_DEPTH``; the expanded tree (every alias
  counted as the nodes it stands for) at most ``MAX_NODES``; at most ``MAX_ALIASES`` aliases;
  an alias to its own enclosing node (a recursive structure) is refused.

Then the safe constructor builds the Python values from the checked tree, and ``line_map`` gives
the line of every key for `check`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from oauthcli.errors import ConfigError

MAX_DEPTH = 50
MAX_NODES = 250_000
MAX_ALIASES = 10_000
_MERGE = "tag:yaml.org,2002:merge"

Lines = dict[tuple[Any, ...], int]  # key path → 1-based line of the key


@dataclass
class _Frame:
    node: Any
    key: Any = None  # a mapping's pending key node
    seen: dict[Any, int] = field(default_factory=dict)  # key → its line (duplicates)
    size: int = 1
    depth: int = 1
    anchor: str | None = None  # registered when the node is complete (no recursive aliases)


@dataclass
class _Composer:
    loader: Any
    source: str
    anchors: dict[str, Any] = field(default_factory=dict)
    sizes: dict[int, tuple[int, int]] = field(default_factory=dict)  # id(node) → (size, depth)
    open_anchors: set[str] = field(default_factory=set)
    aliases: int = 0

    def fail(self, mark: Any, message: str) -> ConfigError:
        where = f"{self.source}:{mark.line + 1}:{mark.column + 1}" if mark else self.source
        return ConfigError(f"{where}: {message}")

    def compose(self) -> Any:
        import yaml

        loader = self.loader
        loader.get_event()  # StreamStart
        if loader.check_event(yaml.StreamEndEvent):
            return None
        loader.get_event()  # DocumentStart
        root = self._document()
        loader.get_event()  # DocumentEnd
        if not loader.check_event(yaml.StreamEndEvent):
            mark = loader.peek_event().start_mark
            raise self.fail(mark, "expected one YAML document, found more")
        return root

    def _document(self) -> Any:
        import yaml

        stack: list[_Frame] = []
        while True:
            event = self.loader.get_event()
            if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                stack.append(self._start(event, len(stack)))
                continue
            if isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                frame = stack.pop()
                frame.node.end_mark = event.end_mark
                node, size, depth = frame.node, frame.size, frame.depth
                self._anchor(frame.anchor, node)
            elif isinstance(event, yaml.AliasEvent):
                node = self._alias(event)
                size, depth = self.sizes[id(node)]
            else:  # ScalarEvent
                node, size, depth = self._scalar(event), 1, 0
            self.sizes[id(node)] = (size, depth)
            if not stack:
                return node
            self._attach(stack[-1], node, size, depth, event)

    def _start(self, event: Any, level: int) -> _Frame:
        import yaml

        if level >= MAX_DEPTH:
            raise self.fail(event.start_mark, f"nested more than {MAX_DEPTH} levels deep")
        mapping = isinstance(event, yaml.MappingStartEvent)
        kind = yaml.MappingNode if mapping else yaml.SequenceNode
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.loader.resolve(kind, None, event.implicit)
        node = kind(tag, [], event.start_mark, None, flow_style=event.flow_style)
        if event.anchor is not None:
            self.open_anchors.add(event.anchor)
        return _Frame(node, anchor=event.anchor)

    def _scalar(self, event: Any) -> Any:
        import yaml

        tag = event.tag
        if tag is None or tag == "!":
            tag = self.loader.resolve(yaml.ScalarNode, event.value, event.implicit)
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark,
                               style=event.style)  # fmt: skip
        self._anchor(event.anchor, node)
        return node

    def _anchor(self, anchor: str | None, node: Any) -> None:
        if anchor is not None:  # a later anchor of the same name replaces it (YAML 1.2)
            self.open_anchors.discard(anchor)
            self.anchors[anchor] = node

    def _alias(self, event: Any) -> Any:
        self.aliases += 1
        if self.aliases > MAX_ALIASES:
            raise self.fail(event.start_mark, f"more than {MAX_ALIASES} aliases")
        if event.anchor in self.open_anchors:
            raise self.fail(event.start_mark, f"alias *{event.anchor} refers to a node that "
                            "contains it (a recursive structure)")  # fmt: skip
        if event.anchor not in self.anchors:
            raise self.fail(event.start_mark, f"undefined alias *{event.anchor}")
        return self.anchors[event.anchor]

    def _attach(self, frame: _Frame, node: Any, size: int, depth: int, event: Any) -> None:
        import yaml

        frame.size += size
        frame.depth = max(frame.depth, depth + 1)
        if frame.size > MAX_NODES:
            raise self.fail(event.start_mark, f"the document expands to more than {MAX_NODES} "
                            "nodes (an alias counts as the nodes it stands for)")  # fmt: skip
        if frame.depth > MAX_DEPTH:
            raise self.fail(event.start_mark, f"nested more than {MAX_DEPTH} levels deep "
                            "(through aliases)")  # fmt: skip
        if isinstance(frame.node, yaml.SequenceNode):
            frame.node.value.append(node)
        elif frame.key is None:
            self._check_key(frame, node)
            frame.key = node
        else:
            frame.node.value.append((frame.key, node))
            frame.key = None

    def _check_key(self, frame: _Frame, key: Any) -> None:
        import yaml

        if not isinstance(key, yaml.ScalarNode) or key.tag == _MERGE:
            return
        try:
            value = self.loader.construct_object(key, deep=True)
            hash(value)
        except Exception:  # noqa: BLE001 - an odd key: the constructor reports it later
            return
        line = key.start_mark.line + 1
        if value in frame.seen:
            first = frame.seen[value]
            raise self.fail(key.start_mark, f"duplicate key {_shown(value)} (first at line "
                            f"{first}); the second would silently replace the first")  # fmt: skip
        frame.seen[value] = line


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def loader_class() -> Any:
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_document(text: str, source: str, lines: bool = False) -> tuple[Any, Lines | None]:
    """The document's value (None when empty) and, if asked, its line map; ConfigError."""
    import yaml

    loader = loader_class()(text)
    composer = _Composer(loader, source)
    try:
        root = composer.compose()
        found = line_map(root) if lines and root is not None else None  # before merges
        data = None if root is None else loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise composer.fail(mark, f"YAML syntax error: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: YAML error: {_first_line(exc)}") from None
    except (ValueError, TypeError, OverflowError, RecursionError, MemoryError) as exc:
        raise ConfigError(f"{source}: YAML value cannot be read: {_first_line(exc)}") from None
    finally:
        loader.dispose()
    return data, found


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def line_map(root: Any) -> Lines:
    """The 1-based line of every key reachable from ``root`` by a path of string keys/indexes."""
    import yaml

    found: Lines = {}
    stack: list[tuple[tuple[Any, ...], Any]] = [((), root)]
    while stack and len(found) < MAX_NODES:
        path, node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    here = (*path, key.value)
                    found.setdefault(here, key.start_mark.line + 1)
                    stack.append((here, value))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                found.setdefault((*path, index), item.start_mark.line + 1)
                stack.append(((*path, index), item))
    return found
