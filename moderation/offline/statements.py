"""``moderation export statements``: one statement of reasons per removal, in the fields and
values of the EU DSA Transparency Database's API (``docs/reasons.md`` lists them and says
where they come from).

A removal is a comment whose latest decision is a rejection (by the rules or a moderator)
made in the period. The record holds the reason's category and ground, the text the
commenter can be shown and who decided (a rule's id, or "a moderator"), never the comment's
text (rule messages can quote it, so they are left out too).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from moderation import reasons
from moderation.db.models import Comment, CommentReport, DecidedBy, Decision, utcnow

__all__ = [
    "AUTOMATED_DECISIONS",
    "EEA_COUNTRIES",
    "EU_COUNTRIES",
    "FIELDS",
    "SOURCE_TYPES",
    "parse_scope",
    "removals",
    "run_export",
    "statement",
    "write_statements",
]

FIELDS = (
    "decision_visibility",
    "end_date_visibility_restriction",
    "decision_ground",
    "illegal_content_legal_ground",
    "illegal_content_explanation",
    "incompatible_content_ground",
    "incompatible_content_explanation",
    "incompatible_content_illegal",
    "category",
    "content_type",
    "content_date",
    "application_date",
    "territorial_scope",
    "decision_facts",
    "source_type",
    "automated_detection",
    "automated_decision",
    "puid",
)
"""The columns of a record, in order."""

AUTOMATED_DECISIONS = (
    "AUTOMATED_DECISION_FULLY",
    "AUTOMATED_DECISION_PARTIALLY",
    "AUTOMATED_DECISION_NOT_AUTOMATED",
)
SOURCE_TYPES = ("SOURCE_ARTICLE_16", "SOURCE_TRUSTED_FLAGGER", "SOURCE_VOLUNTARY")

EU_COUNTRIES = (
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
    "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
)  # fmt: skip
"""The default ``territorial_scope``: the comment was removed everywhere."""
EEA_COUNTRIES = (*EU_COUNTRIES, "IS", "LI", "NO")

DEFAULT_LEGAL_GROUND = "Law applicable to the publisher (see the publisher's notice)"
"""``illegal_content_legal_ground`` of an ``illegal`` removal unless --legal-ground says."""

CONTRACT_GROUND = "Comment rules"
"""``incompatible_content_ground``: the site's comment rules, with the reason's label."""

_PUID = re.compile(r"[A-Za-z0-9_-]{1,500}")
_FACTS_MAX = 5000


def puid(comment_id: str) -> str:
    """The comment id when the Database accepts it as a PUID (letters, digits, - and _),
    else ``sha256-`` and the id's hash (stable, so a re-export gives the same PUID)."""
    if _PUID.fullmatch(comment_id):
        return comment_id
    return "sha256-" + hashlib.sha256(comment_id.encode()).hexdigest()


def removals(
    session: Session, *, since: datetime, until: datetime
) -> Iterator[tuple[Comment, Decision, list[Decision], bool]]:
    """Each comment whose latest decision is a rejection made in [since, until]: the comment,
    that decision, its earlier decisions and whether readers reported it before it."""
    latest = (
        select(Decision.comment_id, func.max(Decision.id).label("id"))
        .group_by(Decision.comment_id)
        .subquery()
    )
    stmt = (
        select(Decision)
        .join(latest, latest.c.id == Decision.id)
        .where(
            Decision.action == "reject",
            Decision.decided_at >= since,
            Decision.decided_at <= until,
        )
        .order_by(Decision.decided_at, Decision.id)
    )
    finals = list(session.scalars(stmt))
    ids = [d.comment_id for d in finals]
    comments = {c.id: c for c in session.scalars(select(Comment).where(Comment.id.in_(ids)))}
    earlier: dict[str, list[Decision]] = {i: [] for i in ids}
    for d in session.scalars(
        select(Decision).where(Decision.comment_id.in_(ids)).order_by(Decision.id)
    ):
        earlier[d.comment_id].append(d)
    first_report: dict[str, datetime] = {}
    rows = session.execute(
        select(CommentReport.comment_id, func.min(CommentReport.created_at))
        .where(CommentReport.comment_id.in_(ids))
        .group_by(CommentReport.comment_id)
    ).all()
    for comment_id, first in rows:
        first_report[comment_id] = first
    for final in finals:
        before = [d for d in earlier[final.comment_id] if d.id < final.id]
        reported = first_report.get(final.comment_id)
        yield (
            comments[final.comment_id],
            final,
            before,
            reported is not None and _naive(reported) <= _naive(final.decided_at),
        )


def statement(
    comment: Comment,
    final: Decision,
    before: Sequence[Decision],
    *,
    reported: bool,
    territorial_scope: Sequence[str] = EU_COUNTRIES,
    legal_ground: str = DEFAULT_LEGAL_GROUND,
) -> dict[str, Any]:
    """One removal as a Transparency Database statement of reasons."""
    code = reasons.decision_reason_code(final.action, final.reason_code) or reasons.FALLBACK
    reason = reasons.get(code) if code in {r.code for r in reasons.REASONS} else None
    reason = reason or reasons.get(reasons.FALLBACK)
    text = reasons.decision_reason_text(final.action, code, final.reasons) or reason.text
    rules_flagged = any(
        d.decided_by == DecidedBy.RULES.value and d.action in ("reject", "escalate")
        for d in [*before, final]
    )
    if final.decided_by == DecidedBy.RULES.value:
        automated = "AUTOMATED_DECISION_FULLY"
        who = f"Removed automatically by the site's moderation rule '{final.rule}'."
    elif rules_flagged:
        automated = "AUTOMATED_DECISION_PARTIALLY"
        who = "Flagged by the site's automated moderation rules; removed by a moderator."
    else:
        automated = "AUTOMATED_DECISION_NOT_AUTOMATED"
        who = "Removed by a moderator."
    if reported:
        who += " Readers had reported the comment."
    record: dict[str, Any] = dict.fromkeys(FIELDS)
    record.update(
        decision_visibility=["DECISION_VISIBILITY_CONTENT_REMOVED"],
        decision_ground=reason.ground,
        category=reason.category,
        content_type=["CONTENT_TYPE_TEXT"],
        content_date=_date(comment.created_at),
        application_date=_date(final.decided_at),
        territorial_scope=list(territorial_scope),
        decision_facts=f"{text} {who}"[:_FACTS_MAX],
        source_type="SOURCE_ARTICLE_16" if reported else "SOURCE_VOLUNTARY",
        automated_detection="Yes" if rules_flagged else "No",
        automated_decision=automated,
        puid=puid(comment.id),
    )
    if reason.ground == reasons.GROUND_ILLEGAL:
        record.update(
            illegal_content_legal_ground=legal_ground[:500],
            illegal_content_explanation=text[:2000],
        )
    else:
        record.update(
            incompatible_content_ground=f"{CONTRACT_GROUND}: {reason.label}"[:500],
            incompatible_content_explanation=text[:2000],
            incompatible_content_illegal="No",
        )
    return record


def write_statements(records: Iterable[dict[str, Any]], out: TextIO, *, fmt: str) -> int:
    """Write records as JSON lines or CSV (list values as JSON arrays); returns the count."""
    n = 0
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        for record in records:
            writer.writerow(
                {
                    k: json.dumps(v) if isinstance(v, list) else ("" if v is None else v)
                    for k, v in record.items()
                }
            )
            n += 1
        return n
    for record in records:
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        n += 1
    return n


def run_export(args: argparse.Namespace) -> int:
    """``moderation export statements``: write the period's removals, say how many."""
    from moderation.db import make_engine, make_session_factory, site_session
    from moderation.settings import get_settings

    scope = args.territorial_scope
    engine = make_engine(get_settings().effective_database_url)
    until = utcnow()
    since = until - args.since
    buffer = io.StringIO()
    with site_session(make_session_factory(engine), args.site) as session:
        records = (
            statement(
                comment,
                final,
                before,
                reported=reported,
                territorial_scope=scope,
                legal_ground=args.legal_ground or DEFAULT_LEGAL_GROUND,
            )
            for comment, final, before, reported in removals(session, since=since, until=until)
        )
        n = write_statements(records, buffer, fmt=args.format)
    if args.out is None:
        sys.stdout.write(buffer.getvalue())
    else:
        Path(args.out).write_text(buffer.getvalue(), encoding="utf-8")
    print(f"{n} statement(s) of reasons, {since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M}",
          file=sys.stderr)  # fmt: skip
    return 0


def _date(at: datetime) -> str:
    return at.strftime("%Y-%m-%d")


def _naive(at: datetime) -> datetime:
    return at.replace(tzinfo=None) if at.tzinfo is not None else at


def parse_scope(text: str) -> list[str]:
    """``--territorial-scope``: ``EU``, ``EEA`` or comma-separated EU/EEA country codes;
    ``ValueError`` for anything else."""
    if text.strip().upper() in ("EU", "EEA"):
        return list(EU_COUNTRIES if text.strip().upper() == "EU" else EEA_COUNTRIES)
    codes = [c.strip().upper() for c in text.split(",") if c.strip()]
    bad = [c for c in codes if c not in EEA_COUNTRIES]
    if not codes or bad:
        raise ValueError(
            f"{', '.join(bad) or repr(text)}: expected EU/EEA country codes such as DE,FR "
            f"(one of: {', '.join(EEA_COUNTRIES)})"
        )
    return codes
