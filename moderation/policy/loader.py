"""Reads a rules file, validates it, and reports every problem as ``file:line:column: message``.

Steps: parse with ruamel.yaml (round-trip, so every key keeps its line and column), check
the node tree (only data tags, no recursive or exploding aliases, bounded nesting, no
duplicate keys), validate with the pydantic models in ``models.py``,
then check what a schema cannot: duplicate rule ids, word-list files, list names, score
names, ``extends`` and test expectations. All problems in a file are collected before
``RulesError`` is raised; they come sorted by position.
"""

from __future__ import annotations

import hashlib
import re
import types
import typing
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from moderation.exceptions import RulesError
from moderation.policy import models as m
from moderation.policy._schema import describe
from moderation.policy._template import parse_template
from moderation.policy.conditions import (
    CONDITION_TAG_SUFFIX,
    CONDITION_TYPES,
    ConditionModel,
    Loc,
)
from moderation.policy.evaluator import (
    DefaultAction,
    Rule,
    RuleSet,
    template_references,
)
from moderation.policy.testing import InlineTest

__all__ = ["load_rules", "load_rules_text", "read_word_file"]


def load_rules(path: str | Path, *, available_scores: Collection[str] | None = None) -> RuleSet:
    """Load and validate a rules file; ``RulesError`` lists every problem."""
    return _load_path(Path(path), available_scores, ())


def load_rules_text(
    text: str,
    *,
    source: str = "<string>",
    base_dir: Path | None = None,
    available_scores: Collection[str] | None = None,
) -> RuleSet:
    """Load rules from a string. ``base_dir`` resolves ``include`` and ``extends`` paths
    (the current directory when None); ``source`` names the text in error messages."""
    return _Loader(text, source, base_dir or Path("."), available_scores, ()).load()


def _load_path(
    path: Path, available_scores: Collection[str] | None, stack: tuple[Path, ...]
) -> RuleSet:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RulesError([f"{path}: file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError([f"{path}: cannot read: {exc}"]) from None
    return _Loader(text, str(path), path.parent, available_scores, stack, path).load()


def read_word_file(text: str) -> tuple[str, ...]:
    """Entries of a word-list file: one per line, ``#`` starts a comment, blanks ignored."""
    entries = []
    for line in text.splitlines():
        entry = line.split("#", 1)[0].strip()
        if entry:
            entries.append(entry)
    return tuple(entries)


# --- YAML helpers ------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """ruamel's round-trip types as plain Python values (pydantic is strict about types)."""
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, datetime):
        return datetime.fromisoformat(value.isoformat())
    if isinstance(value, date):
        return date(value.year, value.month, value.day)
    return value


def path_text(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _clean_loc(loc: tuple[Any, ...]) -> Loc:
    """A pydantic error location without the tags of chosen union members."""
    out: list[str | int] = []
    for part in loc:
        if isinstance(part, str) and part.endswith(CONDITION_TAG_SUFFIX):
            if part[: -len(CONDITION_TAG_SUFFIX)] in CONDITION_TYPES:
                continue
        if part == "[key]":
            continue
        out.append(part)
    return tuple(out)


def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _model_keys(model: type[BaseModel]) -> list[str]:
    keys = [info.alias or name for name, info in model.model_fields.items()]
    first = getattr(model, "key", None)
    if isinstance(first, str) and first in keys:
        keys.remove(first)
        keys.insert(0, first)
    return keys


def _expected_keys(raw_loc: tuple[Any, ...]) -> list[str] | None:
    """Keys the model at a pydantic error location accepts (for 'unknown key' messages)."""
    tp: Any = m.RulesFileModel
    for part in raw_loc:
        if isinstance(part, str) and part.endswith(CONDITION_TAG_SUFFIX):
            tag = part[: -len(CONDITION_TAG_SUFFIX)]
            if tag in CONDITION_TYPES:
                tp = CONDITION_TYPES[tag]
                continue
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            found = [info for name, info in tp.model_fields.items() if (info.alias or name) == part]
            if not found:
                return None
            tp = found[0].annotation
        elif typing.get_origin(tp) in (list, tuple):
            tp = typing.get_args(tp)[0]
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        else:
            return None
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return _model_keys(tp)
    return None


MAX_NESTING = 50
"""Levels of lists and mappings a rules file may nest (real files use fewer than ten)."""

MAX_VALUES = 100_000
"""Values a rules file may hold with its aliases expanded: an anchor used nine times in
each of eight levels ("billion laughs") would otherwise expand to 43 million."""

MAX_INT_DIGITS = 30
"""Digits of an integer in a rules file (Python refuses to read more than 4,300)."""

_YAML_TAG = "tag:yaml.org,2002:"
_DATA_TAGS = frozenset(
    _YAML_TAG + name
    for name in ("str", "int", "float", "bool", "null", "timestamp", "seq", "map", "merge")
)
"""The tags a rules file may carry, written or implied: plain data. Anything else
(``!!python/object``, ``!!binary``, ``!!set``, a local ``!tag``) is refused, so loading a
rules file can never construct an object."""

_REASON_ACTIONS = (m.Action.REJECT.value, m.Action.ESCALATE.value)

_SURROGATE = re.compile("[\ud800-\udfff]")

_DATA_KINDS = "strings, numbers, true/false, null, dates, lists and mappings"


def _tag_text(tag: str | None) -> str:
    if tag is None:
        return "(none)"
    return "!!" + tag[len(_YAML_TAG) :] if tag.startswith(_YAML_TAG) else tag


_TYPE_WORDS = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "datetime_type": "a date and time",
}
_BOUND_WORDS = {
    "greater_than": ("gt", "greater than"),
    "greater_than_equal": ("ge", "at least"),
    "less_than": ("lt", "less than"),
    "less_than_equal": ("le", "at most"),
}


@dataclass
class _Problem:
    line: int
    column: int
    message: str


@dataclass
class _Parts:
    """What validated, so that later checks can run on the good parts of a bad file."""

    extends: str | None = None
    default: m.DefaultModel | None = None
    lists: dict[str, m.ListSpec] = field(default_factory=dict)
    remove: list[str] = field(default_factory=list)
    rules: list[tuple[int, m.RuleModel]] = field(default_factory=list)
    tests: list[tuple[int, m.InlineTestModel]] = field(default_factory=list)


class _Loader:
    def __init__(
        self,
        text: str,
        source: str,
        base_dir: Path,
        available_scores: Collection[str] | None,
        stack: tuple[Path, ...],
        path: Path | None = None,
    ):
        self.path = path
        self.text = text
        self.source = source
        self.base_dir = base_dir
        self.available = None if available_scores is None else frozenset(available_scores)
        self.stack = stack
        self.problems: list[_Problem] = []
        self.foreign: list[str] = []  # errors from an extended file, already formatted
        self.root: Any = None
        self.data: dict[str, Any] = {}

    # -- reporting

    def _position(self, loc: Loc) -> tuple[int, int]:
        node, pos = self.root, (0, 0)
        for part in loc:
            if isinstance(node, CommentedMap) and part in node:
                pos = node.lc.key(part)
                node = node[part]
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
                pos = node.lc.item(part)
                node = node[part]
            else:
                break
        return pos

    def error(self, loc: Loc, message: str) -> None:
        line, column = self._position(loc)
        self.problems.append(_Problem(line + 1, column + 1, message))

    def error_at(self, line: int, column: int, message: str) -> None:
        self.problems.append(_Problem(line + 1, column + 1, message))

    def _raise_if_errors(self) -> None:
        if not self.problems and not self.foreign:
            return
        seen: dict[tuple[int, int, str], None] = {}
        for p in sorted(self.problems, key=lambda p: (p.line, p.column)):
            seen.setdefault((p.line, p.column, p.message), None)
        own = [f"{self.source}:{line}:{col}: {msg}" for line, col, msg in seen]
        raise RulesError(self.foreign + own)

    # -- steps

    def load(self) -> RuleSet:
        self._parse()
        self._raise_if_errors()
        parts = self._validate()
        parent, lists, includes = self._check_and_resolve(parts)
        self._raise_if_errors()
        return self._build(parts, parent, lists, includes)

    def _parse(self) -> None:
        yaml = YAML(typ="rt")
        try:
            node = yaml.compose(self.text)
        except RecursionError:
            self.error_at(0, 0, f"invalid YAML: nested more than {MAX_NESTING} levels deep")
            return
        except YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            problem = getattr(exc, "problem", None) or str(exc)
            context = getattr(exc, "context", None)
            context_mark = getattr(exc, "context_mark", None)
            detail = problem
            if context and context_mark is not None:
                detail += f" ({context} started on line {context_mark.line + 1})"
            elif context:
                detail += f" ({context})"
            detail = detail.splitlines()[0]  # the rest repeats the position
            position = getattr(exc, "position", None)  # a character the reader refused
            if mark is None and isinstance(position, int):
                before = self.text[:position]
                line = before.count("\n")
                self.error_at(line, position - (before.rfind("\n") + 1), f"invalid YAML: {detail}")
            elif mark is None:
                self.error_at(0, 0, f"invalid YAML: {detail}")
            else:
                self.error_at(mark.line, mark.column, f"invalid YAML: {detail}")
            return
        if node is not None:
            if not _NodeCheck(self).ok(node):
                return  # loading it would recurse, explode or construct what it must not
            self._duplicate_keys(node, (), set())
        yaml = YAML(typ="rt")
        yaml.allow_duplicate_keys = True
        self.root = yaml.load(self.text)
        if self.root is None:
            self.error_at(0, 0, "the file is empty; expected a mapping with keys: " + _TOP_KEYS)
        elif not isinstance(self.root, CommentedMap):
            self.error_at(
                0, 0, "expected a mapping with keys: " + _TOP_KEYS + f", got {_kind(self.root)}"
            )

    def _duplicate_keys(self, node: Node, loc: Loc, seen: set[int]) -> None:
        if id(node) in seen:  # an alias: its node was checked where its anchor is
            return
        seen.add(id(node))
        if isinstance(node, MappingNode):
            first: dict[Any, int] = {}
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, ScalarNode) else None
                if key is None:
                    continue
                if key in first:
                    where = f"in {path_text(loc)}" if loc else "at the top level"
                    self.error_at(
                        key_node.start_mark.line,
                        key_node.start_mark.column,
                        f"duplicate key '{key}' {where} (first given on line {first[key]})",
                    )
                else:
                    first[key] = key_node.start_mark.line + 1
                self._duplicate_keys(value_node, (*loc, key), seen)
        elif isinstance(node, SequenceNode):
            for i, item in enumerate(node.value):
                self._duplicate_keys(item, (*loc, i), seen)

    def _validate(self) -> _Parts:
        data = self.data = _plain(self.root)
        try:
            model = m.RulesFileModel.model_validate(data)
        except ValidationError as exc:
            for err in exc.errors():
                self._pydantic_error(err)
            return self._validate_parts(data)
        return _Parts(
            extends=model.extends,
            default=model.default,
            lists=dict(model.lists),
            remove=list(model.remove),
            rules=list(enumerate(model.rules)),
            tests=list(enumerate(model.tests)),
        )

    def _validate_parts(self, data: dict[str, Any]) -> _Parts:
        parts = _Parts()
        extends = data.get("extends")
        parts.extends = extends if isinstance(extends, str) and extends else None
        parts.default = _try(m.DefaultModel, data.get("default"))
        lists = data.get("lists")
        if isinstance(lists, dict):
            for name, spec in lists.items():
                good = _try(m.ListSpec, spec)
                if isinstance(name, str) and good is not None:
                    parts.lists[name] = good
        remove = data.get("remove")
        if isinstance(remove, list):
            parts.remove = [r for r in remove if isinstance(r, str)]
        for key, model, target in (
            ("rules", m.RuleModel, parts.rules),
            ("tests", m.InlineTestModel, parts.tests),
        ):
            items = data.get(key)
            if isinstance(items, list):
                for i, item in enumerate(items):
                    good = _try(model, item)
                    if good is not None:
                        target.append((i, good))
        return parts

    def _pydantic_error(self, err: Any) -> None:
        raw_loc = tuple(err["loc"])
        loc = _clean_loc(raw_loc)
        kind, value, ctx = err["type"], err.get("input"), err.get("ctx") or {}
        where = path_text(loc)
        if kind == "missing":
            parent = path_text(loc[:-1]) or "the top level"
            self.error(loc, f"{parent}: missing required key '{loc[-1]}'")
        elif kind == "extra_forbidden":
            parent = path_text(loc[:-1])
            place = f"in {parent}" if parent else "at the top level"
            keys = _expected_keys(raw_loc[:-1])
            expected = f"; expected one of: {', '.join(keys)}" if keys else ""
            self.error(loc, f"unknown key '{loc[-1]}' {place}{expected}")
        elif kind == "condition":
            self._condition_error(loc, value)
        elif kind == "literal_error":
            allowed = ", ".join(_quoted_alternatives(ctx.get("expected", "")))
            self.error(loc, f"{where}: {describe(value)} is not one of {allowed}")
        elif kind in _TYPE_WORDS:
            self.error(loc, f"{where}: expected {_TYPE_WORDS[kind]}, got {describe(value)}")
        elif kind in _BOUND_WORDS:
            key, words = _BOUND_WORDS[kind]
            bound = ctx.get(key)
            shown = f"{bound:g}" if isinstance(bound, float) else bound
            self.error(loc, f"{where}: expected a number {words} {shown}, got {value!r}")
        elif kind == "too_short":
            self.error(loc, f"{where}: expected at least {ctx.get('min_length')} item(s)")
        elif kind == "value_error":
            self.error(loc, f"{where}: {ctx.get('error')}" if where else str(ctx.get("error")))
        else:
            self.error(loc, f"{where}: {err['msg']}")

    def _condition_error(self, loc: Loc, value: Any) -> None:
        expected = ", ".join(CONDITION_TYPES)
        where = path_text(loc)
        if isinstance(value, dict) and value:
            key = next(iter(value))
            self.error(
                (*loc, key),
                f"unknown condition '{key}' in {where}; expected one of: {expected}",
            )
        elif isinstance(value, dict):
            self.error(loc, f"{where}: empty condition; expected one of: {expected}")
        else:
            self.error(
                loc,
                f"{where}: expected a condition (a mapping with one of: {expected}), "
                f"got {describe(value)}",
            )

    def _check_and_resolve(
        self, parts: _Parts
    ) -> tuple[RuleSet | None, dict[str, tuple[str, ...]], list[tuple[str, bytes]]]:
        # Checks below read the plain data, so they also cover rules that failed validation.
        data = self.data
        raw_rules = [r if isinstance(r, dict) else {} for r in _list(data.get("rules"))]
        raw_tests = [t if isinstance(t, dict) else {} for t in _list(data.get("tests"))]
        seen_ids: dict[str, int] = {}
        for i, rule in enumerate(raw_rules):
            rule_id = rule.get("id")
            if not isinstance(rule_id, str):
                continue
            if rule_id in seen_ids:
                first = seen_ids[rule_id]
                line = self._position(("rules", first))[0] + 1
                self.error(
                    ("rules", i, "id"),
                    f"rules[{i}].id: duplicate rule id '{rule_id}' "
                    f"(first used by rules[{first}] on line {line})",
                )
            else:
                seen_ids[rule_id] = i

        parent = self._load_parent(parts)
        if "extends" not in data:
            if "default" not in data:
                self.error((), "missing required key 'default' (the action when no rule matches)")
            if "remove" in data:
                self.error(("remove",), "remove: only a file that extends another can remove rules")
        if parent is not None:
            parent_ids = {r.id for r in parent.rules}
            for i, rule_id in enumerate(parts.remove):
                if rule_id not in parent_ids:
                    self.error(
                        ("remove", i),
                        f"remove[{i}]: '{rule_id}' is not a rule of {parent.source}; "
                        f"its rules are: {', '.join(r.id for r in parent.rules)}",
                    )

        lists: dict[str, tuple[str, ...]] = dict(parent.lists) if parent else {}
        includes: list[tuple[str, bytes]] = []
        for name, spec in parts.lists.items():
            if spec.entries is not None:
                lists[name] = tuple(e.strip() for e in spec.entries if e.strip())
                continue
            assert spec.include is not None
            path = self.base_dir / spec.include
            try:
                content = path.read_bytes()
                lists[name] = read_word_file(content.decode("utf-8"))
            except FileNotFoundError:
                self.error(
                    ("lists", name, "include"),
                    f"lists.{name}.include: word list file '{spec.include}' not found",
                )
            except (OSError, UnicodeDecodeError) as exc:
                self.error(
                    ("lists", name, "include"),
                    f"lists.{name}.include: cannot read '{spec.include}': {exc}",
                )
            else:
                includes.append((spec.include, content))

        raw_lists = data.get("lists")
        declared = set(lists) | (set(raw_lists) if isinstance(raw_lists, dict) else set())
        rule_ids = {r.id for r in parent.rules} - set(parts.remove) if parent else set()
        rule_ids |= set(seen_ids)
        checks = _ConditionChecks(self, declared)
        for i, rule in enumerate(raw_rules):
            if "when" in rule:
                for kind, cond, loc in _raw_conditions(rule["when"], ("rules", i, "when")):
                    kind.check_raw(cond, loc, checks)
            self._check_template_scores(rule.get("message"), ("rules", i, "message"))
        default = data.get("default")
        if isinstance(default, dict):
            self._check_template_scores(default.get("message"), ("default", "message"))
            self._check_reason_action(default, ("default",))
        for i, rule in enumerate(raw_rules):
            self._check_reason_action(rule, ("rules", i))
        for i, test in enumerate(raw_tests):
            scores = test.get("scores")
            if isinstance(scores, dict) and self.available is not None:
                for name in scores:
                    if isinstance(name, str) and name not in self.available:
                        self._unknown_score(name, ("tests", i, "scores", name))
            expect = test.get("expect")
            rule_id = expect.get("rule") if isinstance(expect, dict) else None
            if isinstance(rule_id, str) and rule_id not in rule_ids:
                self.error(
                    ("tests", i, "expect", "rule"),
                    f"tests[{i}].expect.rule: no rule has id '{rule_id}'; "
                    "write null to expect the default",
                )
        return parent, lists, includes

    def _check_reason_action(self, raw: dict[str, Any], loc: Loc) -> None:
        """A reason code says why a comment was rejected; on an escalation it is the code a
        moderator's rejection takes by default. Anywhere else it is a mistake."""
        action = raw.get("action")
        if "reason" not in raw or action in _REASON_ACTIONS:
            return
        if isinstance(action, str) and action not in ("approve", None):
            return  # not an action at all: reported on its own line, this would be noise
        does = f"action {action!r}" if isinstance(action, str) else "no action"
        self.error(
            (*loc, "reason"),
            f"{path_text((*loc, 'reason'))}: only a rule that rejects or escalates can carry "
            f"a reason code; this one has {does}",
        )

    def _check_template_scores(self, text: Any, loc: Loc) -> None:
        if self.available is None or not isinstance(text, str):
            return
        try:
            template = parse_template(text)
        except ValueError:
            return  # reported by validation
        scores, _ = template_references(template)
        for name in sorted(scores):
            if name not in self.available:
                self._unknown_score(name, loc)

    def _unknown_score(self, name: str, loc: Loc) -> None:
        assert self.available is not None
        produce = ", ".join(sorted(self.available)) or "nothing"
        self.error(
            loc,
            f"unknown score '{name}' in {path_text(loc)}; active scorers produce: {produce}",
        )

    def _load_parent(self, parts: _Parts) -> RuleSet | None:
        if parts.extends is None:
            return None
        path = (self.base_dir / parts.extends).resolve()
        chain = [*self.stack, *([self.path.resolve()] if self.path else [])]
        if path in chain:
            names = " -> ".join(p.name for p in chain[chain.index(path) :]) + f" -> {path.name}"
            self.error(("extends",), f"extends: '{parts.extends}' makes a cycle: {names}")
            return None
        if not path.exists():
            self.error(("extends",), f"extends: file '{parts.extends}' not found")
            return None
        try:
            return _load_path(self.base_dir / parts.extends, self.available, tuple(chain))
        except RulesError as exc:
            self.foreign.extend(exc.errors)
            self.error(("extends",), f"extends: '{parts.extends}' has errors (listed above)")
            return None

    def _build(
        self,
        parts: _Parts,
        parent: RuleSet | None,
        lists: dict[str, tuple[str, ...]],
        includes: list[tuple[str, bytes]],
    ) -> RuleSet:
        own = [
            Rule.build(spec, lists, source=self.source, line=self._position(("rules", i))[0] + 1)
            for i, spec in parts.rules
        ]
        rules: list[Rule] = []
        if parent is not None:
            overrides = {r.id: r for r in own}
            for rule in parent.rules:
                if rule.id in parts.remove:
                    continue
                if rule.id in overrides:
                    rules.append(overrides.pop(rule.id))
                else:
                    # Rebuild so an overridden list reaches inherited rules too.
                    rules.append(Rule.build(rule.spec, lists, source=rule.source, line=rule.line))
            rules.extend(r for r in own if r.id in overrides)
        else:
            rules = own

        if parts.default is not None:
            default = DefaultAction.build(parts.default)
        else:
            assert parent is not None
            default = parent.default

        digest = hashlib.sha256(self.text.encode("utf-8"))
        for rel, data in includes:
            digest.update(b"\0include\0" + rel.encode("utf-8") + b"\0" + data)
        if parent is not None:
            digest.update(b"\0extends\0" + parent.version.encode("ascii"))

        # The text of every file the version hash covers, this file's first.
        sources = {self.source: self.text}
        sources.update((str(self.base_dir / rel), data.decode("utf-8")) for rel, data in includes)
        for path, text in parent.sources.items() if parent is not None else ():
            sources.setdefault(path, text)

        tests = [
            InlineTest(
                index=i,
                spec=spec,
                source=self.source,
                line=self._position(("tests", i))[0] + 1,
            )
            for i, spec in parts.tests
        ]
        return RuleSet(
            version=digest.hexdigest(),
            source=self.source,
            content=self.text,
            rules=rules,
            default=default,
            lists=lists,
            tests=tests,
            extends=parent,
            # Rules given as text have no file of their own to watch.
            files=[Path(f) for f in sources][0 if self.path is not None else 1 :],
            sources=sources,
        )


class _NodeCheck:
    """What the node tree must not hold before it is loaded: tags other than plain data,
    aliases that recurse or expand past ``MAX_VALUES``, nesting past ``MAX_NESTING``,
    integers longer than ``MAX_INT_DIGITS``. Each node is visited once (aliases share it)."""

    def __init__(self, loader: _Loader):
        self.loader = loader
        self.sizes: dict[int, int] = {}
        self.open: set[int] = set()
        self.structural = False  # recursion, expansion or nesting: loading must not go on
        self.errors = 0

    def ok(self, root: Node) -> bool:
        self.size(root, 1)
        return self.errors == 0

    def report(self, node: Node, message: str, *, structural: bool = False) -> None:
        self.loader.error_at(node.start_mark.line, node.start_mark.column, message)
        self.errors += 1
        self.structural = self.structural or structural

    def size(self, node: Node, depth: int) -> int:
        key = id(node)
        if key in self.sizes:
            return self.sizes[key]
        if key in self.open:
            anchor = f"'&{node.anchor}' " if node.anchor else ""
            self.report(
                node,
                f"the value of anchor {anchor}contains an alias of itself; "
                "a rules file cannot be recursive",
                structural=True,
            )
            return 0
        if node.tag not in _DATA_TAGS:
            self.report(
                node,
                f"YAML tag '{_tag_text(node.tag)}' is not allowed: a rules file holds only "
                f"data ({_DATA_KINDS})",
            )
        if depth > MAX_NESTING:
            if not self.structural:
                self.report(node, f"nested more than {MAX_NESTING} levels deep", structural=True)
            return 1
        total = 1
        if isinstance(node, ScalarNode):
            value = str(node.value)
            digits = sum(ch.isdigit() for ch in value)
            if node.tag == _YAML_TAG + "int" and digits > MAX_INT_DIGITS:
                self.report(
                    node, f"an integer of {digits} digits is too long (at most {MAX_INT_DIGITS})"
                )
            if node.tag == _YAML_TAG + "timestamp":
                try:
                    RoundTripConstructor().construct_yaml_timestamp(node)
                except (ValueError, OverflowError, YAMLError) as exc:
                    self.report(node, f"{value!r} is not a date: {exc}; quote it if it is text")
            lone = _SURROGATE.search(value)
            if lone is not None:
                self.report(
                    node,
                    f"{value[:60]!r} holds the lone surrogate {lone.group(0)!r}, half of a "
                    "UTF-16 pair and not a character; write the character itself",
                )
        else:
            self.open.add(key)
            children: list[Node] = (
                [n for pair in node.value for n in pair]
                if isinstance(node, MappingNode)
                else list(node.value)
            )
            for child in children:
                total += self.size(child, depth + 1)
                if self.structural:
                    break
            self.open.discard(key)
        if total > MAX_VALUES and not self.structural:
            self.report(
                node,
                f"this value expands to more than {MAX_VALUES:,} values through its aliases; "
                "a rules file may hold at most that many",
                structural=True,
            )
        self.sizes[key] = total
        return total


_TOP_KEYS = ", ".join(_model_keys(m.RulesFileModel))


def _kind(value: Any) -> str:
    return describe(value)


def _try(model: type[BaseModel], value: Any) -> Any:
    if value is None:
        return None
    try:
        return model.model_validate(value)
    except ValidationError:
        return None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _raw_conditions(
    value: Any, loc: Loc
) -> Iterator[tuple[type[ConditionModel], dict[str, Any], Loc]]:
    """Condition mappings in plain data, with their type and location (validated or not)."""
    if not isinstance(value, dict):
        return
    kind = next((CONDITION_TYPES[k] for k in value if k in CONDITION_TYPES), None)
    if kind is None:
        return
    yield kind, value, loc
    for child, where in kind.raw_children(value):
        yield from _raw_conditions(child, (*loc, *where))


class _ConditionChecks:
    """The loader's side of ``LoadChecks``: reports go to its problem list."""

    def __init__(self, loader: _Loader, declared: set[str]):
        self.loader = loader
        self.declared = declared

    def score(self, name: str, loc: Loc) -> None:
        if self.loader.available is not None and name not in self.loader.available:
            self.loader._unknown_score(name, loc)

    def list_name(self, name: str, loc: Loc) -> None:
        if name not in self.declared:
            names = ", ".join(sorted(self.declared)) or "none"
            self.loader.error(
                loc, f"{path_text(loc)}: unknown list '{name}'; lists defined: {names}"
            )


def _quoted_alternatives(expected: str) -> Iterator[str]:
    # pydantic says "'approve', 'reject' or 'escalate'"
    for match in re.finditer(r"'((?:[^'\\]|\\.)*)'", expected):
        yield match.group(1)
