"""The operators' commands for sites, keys and erasure requests:

  sites create ID [--name ...]      a new site (its rules, webhook, quotas, retention)
  sites update ID [...]             change a site's settings (--clear FIELD sets one back)
  sites list                        every site and its settings (secrets shown as set)
  keys create --role R [--site S]   a new key, shown once
  keys list [--site S]              keys: id, site, role, name, first characters, state
  keys revoke ID                    stop a key (every API process within seconds)
  authors forget SITE AUTHOR_ID     erase an author (data-protection request)

They work on the database of ``MODERATION_DATABASE_URL`` (migrated first, as ``serve``
does), never through the API, and write the audit log as ``cli:<user>``.
"""

from __future__ import annotations

import argparse
import getpass
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from moderation.settings import get_settings

if TYPE_CHECKING:
    from moderation.db.models import Site
    from moderation.sites import SiteChanges


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no user name in some containers
        return "cli"


@contextmanager
def _session(site: str | None = None) -> Iterator[Session]:
    from moderation.db import make_engine, make_session_factory, upgrade
    from moderation.db.scoping import all_sites_session, site_session

    engine = make_engine(get_settings().effective_database_url)
    upgrade(engine)
    factory = make_session_factory(engine)
    try:
        with site_session(factory, site) if site else all_sites_session(factory) as session:
            yield session
            session.commit()
    finally:
        engine.dispose()


def _changes(args: argparse.Namespace) -> SiteChanges:
    from moderation.sites import SiteChanges

    return SiteChanges(
        name=args.name,
        rules_path=args.rules,
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
        community_ids=args.community_id,
        requests_per_second=args.requests_per_second,
        burst=args.burst,
        retention_days=args.retention_days,
        clear=set(args.clear or []),
    )


def _print_site(site: Site) -> None:
    from moderation.sites import describe

    print(json.dumps(describe(site)))


def _sites_create(args: argparse.Namespace) -> int:
    from moderation.sites import create_site

    with _session() as session:
        site = create_site(session, args.id, _changes(args), actor=_actor())
        _print_site(site)
    return 0


def _sites_update(args: argparse.Namespace) -> int:
    from moderation.sites import update_site

    with _session() as session:
        site = update_site(session, args.id, _changes(args), actor=_actor())
        _print_site(site)
    return 0


def _sites_list(args: argparse.Namespace) -> int:
    from moderation.sites import describe, list_sites

    with _session() as session:
        rows = [describe(site) for site in list_sites(session)]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'site':<20} {'name':<24} {'rules':<28} {'webhook':<8} {'quota':<12} retention")
    for row in rows:
        quota = (
            f"{row['requests_per_second']:g}/s" if row["requests_per_second"] is not None else "-"
        )
        retention = f"{row['retention_days']} d" if row["retention_days"] is not None else "kept"
        print(
            f"{row['id']:<20} {row['name'][:24]:<24} {(row['rules_path'] or 'deployment')[:28]:<28}"
            f" {'yes' if row['webhook_url'] else 'no':<8} {quota:<12} {retention}"
        )
    return 0


def _keys_create(args: argparse.Namespace) -> int:
    from moderation.auth import Role
    from moderation.keys import create_key

    role = Role(args.role)
    with _session() as session:
        made = create_key(
            session,
            role=role,
            site_id=args.site,
            name=args.name or f"{role.value}-{args.site or 'group'}",
            actor=_actor(),
            requests_per_second=args.requests_per_second,
            burst=args.burst,
        )
        row = made.row
        print(f"key {row.id}: {row.role} of {row.site_id or 'every site'}, named {row.name!r}")
        print(made.key)
        print("Keep it now: it is stored as a digest only and cannot be shown again.")
    return 0


def _keys_list(args: argparse.Namespace) -> int:
    from moderation.keys import list_keys

    with _session() as session:
        rows = list_keys(session, site_id=args.site)
        print(f"{'id':>5} {'site':<20} {'role':<10} {'name':<24} {'starts':<8} state")
        for row in rows:
            state = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "active"
            print(
                f"{row.id:>5} {(row.site_id or '(every site)'):<20} {row.role:<10} "
                f"{row.name[:24]:<24} {row.prefix + '…':<8} {state}"
            )
    return 0


def _keys_revoke(args: argparse.Namespace) -> int:
    from moderation.keys import revoke_key

    with _session() as session:
        row = revoke_key(session, args.id, actor=_actor())
        print(f"key {row.id} ({row.role} {row.name!r} of {row.site_id or 'every site'}) revoked")
    return 0


def _authors_forget(args: argparse.Namespace) -> int:
    from moderation.erasure import forget_author
    from moderation.sites import get_site

    with _session() as session:
        get_site(session, args.site)
    with _session(args.site) as session:
        erased = forget_author(session, args.author_id, actor=_actor())
    counts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in erased.counts().items())
    print(f"author erased on site {args.site}: now {erased.pseudonym} ({counts})")
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sites = sub.add_parser("sites", help="the sites this deployment serves").add_subparsers(
        dest="sites_command", required=True, metavar="ACTION"
    )
    for action, func, helptext in (
        ("create", _sites_create, "a new site"),
        ("update", _sites_update, "change a site's settings"),
    ):
        p = sites.add_parser(action, help=helptext)
        p.add_argument("id", help="the site id: lower-case letters, digits, hyphens")
        p.add_argument("--name", help="shown to people (default: the id)")
        p.add_argument("--rules", metavar="FILE", help="its rules file (default: MODERATION_RULES)")
        p.add_argument("--webhook-url", metavar="URL", help="where its decisions are sent")
        p.add_argument("--webhook-secret", metavar="SECRET", help="signs its webhooks")
        p.add_argument(
            "--community-id",
            action="append",
            metavar="ID",
            help="a Perspective communityId of this site (repeatable; replaces the list)",
        )
        p.add_argument("--requests-per-second", type=float, help="each key's sustained rate")
        p.add_argument("--burst", type=int, help="each key's requests at once")
        p.add_argument("--retention-days", type=int, help="empty comment text older than this")
        p.add_argument(
            "--clear",
            action="append",
            metavar="FIELD",
            help="set a setting back to the deployment's default, e.g. --clear retention_days",
        )
        p.set_defaults(func=func)
    p = sites.add_parser("list", help="every site and its settings")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_sites_list)

    keys = sub.add_parser("keys", help="API keys kept in the database").add_subparsers(
        dest="keys_command", required=True, metavar="ACTION"
    )
    p = keys.add_parser("create", help="a new key, shown once")
    p.add_argument("--role", required=True, choices=("publisher", "moderator", "admin", "operator"))
    p.add_argument("--site", help="its site (every role but operator)")
    p.add_argument("--name", help="shown in the audit log (default: role-site)")
    p.add_argument("--requests-per-second", type=float, help="this key's own sustained rate")
    p.add_argument("--burst", type=int, help="this key's own burst")
    p.set_defaults(func=_keys_create)
    p = keys.add_parser("list", help="keys and their state (never the keys themselves)")
    p.add_argument("--site")
    p.set_defaults(func=_keys_list)
    p = keys.add_parser("revoke", help="stop a key")
    p.add_argument("id", type=int, help="the key's id (keys list)")
    p.set_defaults(func=_keys_revoke)

    authors = sub.add_parser("authors", help="authors' data").add_subparsers(
        dest="authors_command", required=True, metavar="ACTION"
    )
    p = authors.add_parser(
        "forget",
        help="erase an author's text and identity on a site (a data-protection request)",
    )
    p.add_argument("site")
    p.add_argument("author_id")
    p.set_defaults(func=_authors_forget)
