"""A small JQL subset, compiled once into a predicate and a sort key, for searches and webhook filters.

Supported: field comparisons (=, !=, >, >=, <, <=, ~, !~, in, not in, is [not] EMPTY), AND/OR/NOT,
parentheses and ORDER BY. Anything else raises JqlError, which the server answers with Jira's 400."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from jsm_bridge.sandbox.catalog import STATUS_CATEGORIES, Catalog, User
from jsm_bridge.sandbox.model import Issue


class JqlError(ValueError):
    """The query cannot be run; the message is what Jira would put in errorMessages."""


Predicate = Callable[[Issue, datetime], bool]


@dataclass(frozen=True)
class Query:
    text: str
    predicate: Predicate
    order: tuple[tuple[str, bool], ...]  # (field, descending)
    # The projects every match must be in, when the query says so (`project = X AND ...`): lets the
    # state look only at those projects' issues. None means any project.
    projects: frozenset[str] | None = None

    def matches(self, issue: Issue, now: datetime) -> bool:
        return self.predicate(issue, now)

    def sort(self, issues: list[Issue], catalog: Catalog) -> list[Issue]:
        result = list(issues)
        for name, descending in reversed(self.order or (("key", False),)):
            result.sort(key=_sort_key(name, catalog), reverse=descending)
        return result


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>!=|>=|<=|!~|=|>|<|~)
      | (?P<punct>[(),])
      | (?P<word>[^\s"'(),=!<>~]+)
    )""",
    re.VERBOSE,
)

KEYWORDS = {"and", "or", "not", "in", "is", "empty", "null", "order", "by", "asc", "desc"}


@dataclass(frozen=True)
class Token:
    kind: str  # string, op, punct, word
    text: str

    def keyword(self, word: str) -> bool:
        return self.kind == "word" and self.text.lower() == word


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise JqlError(
                f"Error in the JQL Query: The character '{text[position]}' is a reserved JQL character."
            )
        position = match.end()
        kind = match.lastgroup or "word"
        value = match.group(kind)
        if kind == "string":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        tokens.append(Token(kind, value))
    return tokens


FIELD_ALIASES = {
    "issuekey": "key",
    "type": "issuetype",
    "resolved": "resolutiondate",
    "statuscategory": "statusCategory",
}
BUILTIN_FIELDS = {
    "project",
    "key",
    "id",
    "status",
    "statusCategory",
    "resolution",
    "priority",
    "labels",
    "assignee",
    "reporter",
    "issuetype",
    "summary",
    "description",
    "text",
    "created",
    "updated",
    "resolutiondate",
}
# Fields compared as sets: labels, and users (matched by name, accountId, key or e-mail address).
LIST_FIELDS = {"labels", "assignee", "reporter"}
DATE_FIELDS = {"created", "updated", "resolutiondate"}
ORDER_FIELDS = {"key", "id", "created", "updated", "priority", "status", "resolutiondate"}


class _Parser:
    def __init__(self, tokens: list[Token], catalog: Catalog) -> None:
        self.tokens = tokens
        self.position = 0
        self.catalog = catalog
        self.project_hints: dict[int, frozenset[str]] = {}  # id(predicate) -> projects it is limited to

    def hint(self, predicate: Predicate) -> frozenset[str] | None:
        return self.project_hints.get(id(predicate))

    def hinted(self, predicate: Predicate, projects: frozenset[str] | None) -> Predicate:
        if projects is not None:
            self.project_hints[id(predicate)] = projects
        return predicate

    def peek(self) -> Token | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise JqlError("Error in the JQL Query: Expecting more of the query at the end.")
        self.position += 1
        return token

    def expect_keyword(self, word: str) -> None:
        token = self.take()
        if not token.keyword(word):
            raise JqlError(f"Error in the JQL Query: Expecting '{word.upper()}' but got '{token.text}'.")

    def parse(self) -> tuple[Predicate, tuple[tuple[str, bool], ...], frozenset[str] | None]:
        predicate: Predicate = _always
        if self.peek() is not None and not self.peek_keyword("order"):
            predicate = self.parse_or()
        order: list[tuple[str, bool]] = []
        if self.peek_keyword("order"):
            self.take()
            self.expect_keyword("by")
            while True:
                name = self.field_name(self.take())
                if name not in ORDER_FIELDS:
                    raise JqlError(f"Not able to sort using field '{name}'.")
                descending = False
                if self.peek_keyword("asc") or self.peek_keyword("desc"):
                    descending = self.take().text.lower() == "desc"
                order.append((name, descending))
                if self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                    self.take()
                    continue
                break
        if self.peek() is not None:
            raise JqlError(f"Error in the JQL Query: Expecting end of query but got '{self.take().text}'.")
        return predicate, tuple(order), self.hint(predicate)

    def peek_keyword(self, word: str) -> bool:
        token = self.peek()
        return token is not None and token.keyword(word)

    def parse_or(self) -> Predicate:
        parts = [self.parse_and()]
        while self.peek_keyword("or"):
            self.take()
            parts.append(self.parse_and())
        if len(parts) == 1:
            return parts[0]
        hints = [self.hint(p) for p in parts]
        union = None if any(h is None for h in hints) else frozenset().union(*hints)  # type: ignore[arg-type]
        return self.hinted(lambda issue, now: any(p(issue, now) for p in parts), union)

    def parse_and(self) -> Predicate:
        parts = [self.parse_not()]
        while self.peek_keyword("and"):
            self.take()
            parts.append(self.parse_not())
        if len(parts) == 1:
            return parts[0]
        known = [h for p in parts if (h := self.hint(p)) is not None]
        both = frozenset.intersection(*known) if known else None
        return self.hinted(lambda issue, now: all(p(issue, now) for p in parts), both)

    def parse_not(self) -> Predicate:
        if self.peek_keyword("not"):
            self.take()
            inner = self.parse_not()
            return lambda issue, now: not inner(issue, now)
        token = self.peek()
        if token is not None and token.text == "(" and token.kind == "punct":
            self.take()
            inner = self.parse_or()
            closing = self.take()
            if closing.text != ")":
                raise JqlError(f"Error in the JQL Query: Expecting ')' but got '{closing.text}'.")
            return inner
        return self.parse_clause()

    def field_name(self, token: Token) -> str:
        text = token.text
        if token.kind == "word" and text.lower() in KEYWORDS:
            raise JqlError(
                f"Error in the JQL Query: Expecting a field name but got the reserved word '{text}'."
            )
        if token.kind not in ("word", "string"):
            raise JqlError(f"Error in the JQL Query: Expecting a field name but got '{text}'.")
        lowered = text.lower()
        if lowered in FIELD_ALIASES:
            return FIELD_ALIASES[lowered]
        for name in BUILTIN_FIELDS:
            if name.lower() == lowered:
                return name
        cf = re.fullmatch(r"cf\[(\d+)\]", lowered)
        custom = self.catalog.custom_field(f"customfield_{cf.group(1)}" if cf else text)
        if custom is None:
            raise JqlError(f"Field '{text}' does not exist or you do not have permission to view it.")
        return custom.id

    def parse_clause(self) -> Predicate:
        name = self.field_name(self.take())
        op_token = self.take()
        if op_token.keyword("is"):
            negate = False
            if self.peek_keyword("not"):
                self.take()
                negate = True
            value = self.take()
            if not (value.keyword("empty") or value.keyword("null")):
                raise JqlError("Error in the JQL Query: Expecting 'EMPTY' or 'NULL' after 'IS'.")
            getter = _getter(name, self.catalog)
            return (lambda i, now: not _empty(getter(i))) if negate else (lambda i, now: _empty(getter(i)))
        if op_token.keyword("not"):
            self.expect_keyword("in")
            return _negate_in(self.compile_in(name, self.value_list()), name, self.catalog)
        if op_token.keyword("in"):
            values = self.value_list()
            predicate = self.compile_in(name, values)
            if name == "project":
                return self.hinted(predicate, frozenset(v.text.upper() for v in values))
            return predicate
        if op_token.kind != "op":
            raise JqlError(f"Error in the JQL Query: Expecting an operator but got '{op_token.text}'.")
        value = self.take()
        if value.kind == "punct":
            raise JqlError(f"Error in the JQL Query: Expecting a value but got '{value.text}'.")
        predicate = self.compile_comparison(name, op_token.text, value)
        if name == "project" and op_token.text == "=":
            return self.hinted(predicate, frozenset({value.text.upper()}))
        return predicate

    def value_list(self) -> list[Token]:
        opening = self.take()
        if opening.text != "(":
            raise JqlError("Error in the JQL Query: Expecting '(' after 'IN'.")
        values: list[Token] = []
        while True:
            token = self.take()
            if token.kind == "punct" and token.text == ")" and not values:
                break
            values.append(token)
            separator = self.take()
            if separator.text == ")":
                break
            if separator.text != ",":
                raise JqlError(f"Error in the JQL Query: Expecting ',' or ')' but got '{separator.text}'.")
        return values

    def compile_in(self, name: str, values: list[Token]) -> Predicate:
        if name in DATE_FIELDS:
            raise JqlError(f"The operator 'in' is not supported by the '{name}' field in this sandbox.")
        wanted = {self.normalise(name, v) for v in values}
        include_empty = any(v.keyword("empty") or v.keyword("null") for v in values)
        getter = _getter(name, self.catalog)
        if name in LIST_FIELDS:
            return lambda i, now: (
                bool(wanted & {x.lower() for x in getter(i)}) or (include_empty and not getter(i))
            )
        return lambda i, now: _norm(getter(i)) in wanted or (include_empty and _empty(getter(i)))

    def normalise(self, name: str, token: Token) -> str | None:
        text = token.text
        if token.keyword("empty") or token.keyword("null"):
            return None
        if name == "statusCategory":
            for category in STATUS_CATEGORIES.values():
                if text.lower() in (str(category["name"]).lower(), str(category["key"]), str(category["id"])):
                    return str(category["key"])
            raise JqlError(f"The value '{text}' does not exist for the field 'statusCategory'.")
        if name == "status":
            status = self.catalog.status(text) or self.catalog.status_by_id(text)
            if status is None:
                raise JqlError(f"The value '{text}' does not exist for the field 'status'.")
            return status.name.lower()
        if name == "priority":
            priority = self.catalog.priority(text)
            if priority is None:
                raise JqlError(f"The value '{text}' does not exist for the field 'priority'.")
            return priority.lower()
        if name == "resolution" and text.lower() == "unresolved":
            return None
        return text.lower()

    def compile_comparison(self, name: str, op: str, value: Token) -> Predicate:
        getter = _getter(name, self.catalog)
        if name in DATE_FIELDS:
            if op in ("~", "!~"):
                raise JqlError(f"The operator '{op}' is not supported by the '{name}' field.")
            instant = _instant(value.text)
            compare = _COMPARE[op]

            def on_date(issue: Issue, now: datetime) -> bool:
                actual = getter(issue)
                return actual is not None and compare(actual, instant(now))

            return on_date
        if op in ("~", "!~"):
            if name not in ("summary", "description", "text") and not name.startswith("customfield_"):
                raise JqlError(f"The operator '{op}' is not supported by the '{name}' field.")
            words = [w for w in re.findall(r"\w+", value.text.lower()) if w]

            def contains(issue: Issue, now: datetime) -> bool:
                text = str(getter(issue) or "").lower()
                return all(w in text for w in words)

            return contains if op == "~" else (lambda i, now: not contains(i, now))
        if op in (">", ">=", "<", "<="):
            if name not in ("key", "id", "priority") and not name.startswith("customfield_"):
                raise JqlError(f"The operator '{op}' is not supported by the '{name}' field.")
            compare = _COMPARE[op]
            if name == "key":
                target = _key_order(value.text)
                return lambda i, now: compare((i.project, i.number), target)
            if name == "priority":
                # Jira orders priorities by rank: "priority > Low" means more urgent than Low.
                rank = self.catalog.priorities.index(self.catalog.priority(value.text) or value.text)
                return lambda i, now: compare(-self.catalog.priorities.index(i.fields["priority"]), -rank)
            number = float(value.text)
            return lambda i, now: getter(i) is not None and compare(float(getter(i)), number)
        normalised = self.normalise(name, value)
        if name in LIST_FIELDS:
            if op == "=":
                return lambda i, now: normalised in {x.lower() for x in getter(i)}
            return lambda i, now: bool(getter(i)) and normalised not in {x.lower() for x in getter(i)}
        if op == "=":
            if normalised is None:
                return lambda i, now: _empty(getter(i))
            return lambda i, now: _norm(getter(i)) == normalised
        if normalised is None:
            return lambda i, now: not _empty(getter(i))
        # Jira's != never matches an empty field.
        return lambda i, now: not _empty(getter(i)) and _norm(getter(i)) != normalised


def _negate_in(inner: Predicate, name: str, catalog: Catalog) -> Predicate:
    getter = _getter(name, catalog)
    return lambda i, now: not _empty(getter(i)) and not inner(i, now)


def _always(issue: Issue, now: datetime) -> bool:
    return True


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def _norm(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict):
        value = value.get("value", value.get("name"))
    return str(value).lower()


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


def _key_order(text: str) -> tuple[str, int]:
    match = re.fullmatch(r"([A-Za-z][A-Za-z0-9_]*)-(\d+)", text)
    if not match:
        raise JqlError(f"The issue key '{text}' for field 'key' is invalid.")
    return match.group(1).upper(), int(match.group(2))


_RELATIVE = re.compile(r"([+-]?)(\d+)([wdhm])")
_UNITS = {"w": timedelta(weeks=1), "d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}


def _instant(text: str) -> Callable[[datetime], datetime]:
    """A JQL date value: relative ("-5m", "-1d 2h"), `now()`, or absolute (UTC when no offset is given)."""
    stripped = text.strip()
    if stripped.lower() in ("now()", "now"):
        return lambda now: now
    compact = stripped.replace(" ", "")
    if compact and _RELATIVE.fullmatch(compact) or re.fullmatch(r"(?:[+-]?\d+[wdhm])+", compact):
        sign = -1 if compact.startswith("-") else 1
        total = timedelta()
        for _sign, amount, unit in _RELATIVE.findall(compact):
            total += int(amount) * _UNITS[unit]
        return lambda now: now + sign * total
    for pattern in ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d"):
        try:
            naive = datetime.strptime(stripped, pattern)
        except ValueError:
            continue
        return _fixed(naive)
    try:
        parsed = datetime.fromisoformat(stripped)
    except ValueError:
        raise JqlError(
            f"Date value '{text}' for field is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', "
            "'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'."
        ) from None
    return _fixed(parsed)


def _fixed(instant: datetime) -> Callable[[datetime], datetime]:
    def at(now: datetime) -> datetime:
        return instant if instant.tzinfo else instant.replace(tzinfo=now.tzinfo)

    return at


def _getter(name: str, catalog: Catalog) -> Callable[[Issue], Any]:
    if name == "key":
        return lambda i: i.key
    if name == "id":
        return lambda i: str(i.id)
    if name == "project":
        return lambda i: i.project
    if name == "created":
        return lambda i: i.created
    if name == "updated":
        return lambda i: i.updated
    if name == "statusCategory":

        def category(issue: Issue) -> str | None:
            status = catalog.status(issue.status)
            return status.category if status else None

        return category
    if name == "text":
        return lambda i: " ".join(
            [str(i.fields.get("summary") or ""), str(i.fields.get("description") or "")]
            + [c.body for c in i.comments]
        )
    if name == "labels":
        return lambda i: i.fields.get("labels") or []
    if name in ("assignee", "reporter"):
        return lambda i: _user_identities(i.fields.get(name))
    return lambda i: i.fields.get(name)


@lru_cache(maxsize=4096)
def _user_identities_cached(name: str) -> tuple[str, ...]:
    user = User(name, name)
    return tuple(v.lower() for v in (name, user.account_id, user.key, user.email))


def _user_identities(name: str | None) -> list[str]:
    return list(_user_identities_cached(name)) if name else []


def _sort_key(name: str, catalog: Catalog) -> Callable[[Issue], Any]:
    return lambda issue: _sort_value(issue, name, catalog)


def _sort_value(issue: Issue, name: str, catalog: Catalog) -> Any:
    if name in ("key", "id"):
        return (issue.project, issue.number) if name == "key" else issue.id
    if name == "created":
        return issue.created
    if name == "updated":
        return issue.updated
    if name == "priority":
        # DESC means most urgent first, as in Jira.
        return -catalog.priorities.index(issue.fields["priority"]) if issue.fields.get("priority") else -999
    if name == "status":
        return issue.status.lower()
    value = issue.fields.get(name)
    return (value is not None, value or issue.created)


def compile_jql(text: str, catalog: Catalog) -> Query:
    """Parse once; the resulting Query is applied to many issues."""
    return _compile_cached(text.strip(), id(catalog), _CatalogRef(catalog))


class _CatalogRef:
    # Carries the catalog through lru_cache without making it part of the cache key.
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def __hash__(self) -> int:
        return 0

    def __eq__(self, other: object) -> bool:
        return True


@lru_cache(maxsize=512)
def _compile_cached(text: str, catalog_id: int, ref: _CatalogRef) -> Query:
    predicate, order, projects = _Parser(tokenize(text), ref.catalog).parse()
    return Query(text, predicate, order, projects)
