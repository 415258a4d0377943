"""One site per session: every query of a site's session sees that site's rows only, and
every row it adds belongs to that site.

A session names its site in ``session.info`` (``site_session(factory, "daily-news")``); a
session made without one is the default site's, which is what a single-site deployment and
its tools expect. Two listeners do the rest, so that no query has to remember the site:

- ``do_orm_execute`` adds ``site_id = :site`` to every ORM SELECT, UPDATE and DELETE of a
  site-scoped table (``with_loader_criteria``: joins, subqueries and relationship loads
  included), so another site's ids are simply not found (the API answers 404, not 403);
- ``before_flush`` gives new rows the session's site, and refuses a row of another site.

A session over every site (``all_sites_session``) is for what spans sites by nature: the
sweeper, a group-wide operator's lists, migrations' checks. It may read any row and add
rows only with their ``site_id`` set.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker, with_loader_criteria

from moderation.db.models import DEFAULT_SITE, SiteScoped

SITE_INFO = "moderation_site"
"""``session.info`` key of the session's site."""

ALL_SITES = "*"
"""The site of a session over every site (not a valid site id: ids are slugs)."""


def site_session(factory: sessionmaker[Session], site_id: str, **kwargs: Any) -> Session:
    """A session of ``site_id``'s rows (``kwargs`` as for the factory)."""
    info = dict(kwargs.pop("info", None) or {})
    info[SITE_INFO] = site_id
    return factory(info=info, **kwargs)


def all_sites_session(factory: sessionmaker[Session], **kwargs: Any) -> Session:
    """A session over every site's rows."""
    return site_session(factory, ALL_SITES, **kwargs)


def session_site(session: Session) -> str:
    """The session's site, or ``ALL_SITES``."""
    return str(session.info.get(SITE_INFO, DEFAULT_SITE))


def current_site(session: Session) -> str:
    """The one site the session works for; a session over every site has none (a caller
    that needs one must say which)."""
    site = session_site(session)
    if site == ALL_SITES:
        raise RuntimeError("this session spans every site: open one for the site concerned")
    return site


def in_site(session: Session, row_id: str) -> tuple[str, str]:
    """The primary key of the row ``row_id`` of the session's site (articles, comments,
    authors, claims are keyed by site and id): ``session.get(Comment, in_site(s, "42"))``."""
    return (current_site(session), row_id)


def bind_site(session: Session, site_id: str) -> None:
    """Make an open session ``site_id``'s (before it has read or written anything)."""
    session.info[SITE_INFO] = site_id


@event.listens_for(Session, "do_orm_execute")
def _only_this_site(state: ORMExecuteState) -> None:
    site = session_site(state.session)
    if site == ALL_SITES:
        return
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.is_column_load or state.is_relationship_load:
        return  # the statement that loaded the parent carries the criteria along
    state.statement = state.statement.options(
        with_loader_criteria(SiteScoped, lambda cls: cls.site_id == site, include_aliases=True)
    )


@event.listens_for(Session, "before_flush")
def _rows_of_this_site(session: Session, _context: Any, _instances: Any) -> None:
    site = session_site(session)
    for row in session.new:
        if not isinstance(row, SiteScoped):
            continue
        if row.site_id is None:
            if site == ALL_SITES:
                raise RuntimeError(
                    f"a {type(row).__name__} row without a site in a session over every site"
                )
            row.site_id = site
        elif site != ALL_SITES and row.site_id != site:
            raise RuntimeError(
                f"a {type(row).__name__} row of site {row.site_id!r} in a session of {site!r}"
            )
