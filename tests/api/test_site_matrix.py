"""Every endpoint against every key: each role of site A, the same roles of site B, a
group-wide operator (with and without ``?site=``) and no key, on A's rows. Each cell has
its expected status; B's keys get 404 for A's ids (never 403, which would say they exist),
and B's lists never show A's rows. The table must name every operation the API documents,
so a new endpoint cannot skip the matrix (issue #16).

Each cell works on rows seeded for it alone (ids with the cell's own tag), so cells that
decide, claim or erase do not change what another cell sees."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pytest
import redis as redis_lib
from fastapi.testclient import TestClient

from moderation.db import Site, all_sites_session, site_session
from moderation.db.models import WebhookDelivery, utcnow
from moderation.reasons import REASONS
from tests.api.test_reviews import add_comment
from tests.conftest import (
    API_KEYS_SPEC,
    DB_PARAMS,
    ROOT,
    TEST_REDIS_URL,
    migrated_database,
    usual_settings,
)

A, B = "daily-news", "evening-post"
ROLES = ("publisher", "moderator", "admin")
KEYS = {(role, site): f"{role}-{site}-key-0123456789" for role in ROLES for site in (A, B)}
OPERATOR_KEY = "operator-group-key-0123456789"
SPEC = ",".join(
    [API_KEYS_SPEC, f"operator/ops:{OPERATOR_KEY}"]
    + [f"{role}@{site}/{role}-{site}:{key}" for (role, site), key in KEYS.items()]
)
PUBLIC = {("get", "/healthz"), ("get", "/readyz"), ("get", "/$discovery/rest")}
PERSPECTIVE = {("post", "/v1alpha1/comments:analyze"), ("post", "/v1alpha1/comments:suggestscore")}
"""Google's wire format (key in ?key=, errors of its own): tests/perspective checks them;
their per-site storage is checked below (the suggestions list)."""


@dataclass(frozen=True)
class Op:
    method: str
    path: str
    """With {comment}, {article}, {author}, {delivery} and {version} of the cell's rows."""
    roles: tuple[str, ...]
    """Roles allowed besides admin (and operator)."""
    ok: int
    body: Callable[[dict[str, str]], Any] | None = None
    foreign: str = "404"
    """What B's allowed keys get for A's rows: ``404``; ``own`` (the id names B's own row,
    which the call makes or finds empty); ``422`` (A's id in the body is unknown in B);
    ``list`` (B's own rows, none of A's)."""
    query: dict[str, str] = field(default_factory=dict)


REPORT = {"reporter_id": "reader-1", "reason": "abusive"}
OPS = [
    Op("put", "/v1/articles/{article}", ("publisher",), 200,
       lambda ids: {"title": "Budget, again", "body": "The council passed it."}, foreign="own"),
    Op("get", "/v1/articles/{article}", ("publisher",), 200),
    Op("post", "/v1/comments", ("publisher",), 202,
       lambda ids: {"id": ids["new"], "article_id": ids["article"], "text": "A new comment.",
                    "author": {"id": "reader-9"}}, foreign="422"),
    Op("post", "/v1/comments/batch", ("publisher",), 202,
       lambda ids: {"comments": [{"id": ids["new"], "article_id": ids["article"],
                                  "text": "In a batch.", "author": {"id": "reader-9"}}]},
       foreign="batch"),
    Op("get", "/v1/comments/{comment}", ("publisher",), 200),
    Op("post", "/v1/comments/{comment}/reports", ("publisher",), 201, lambda ids: REPORT),
    Op("get", "/v1/comments/{comment}/reports", ("moderator",), 200),
    Op("get", "/v1/reasons", ("moderator",), 200, foreign="global"),
    Op("post", "/v1/comments/{comment}/decision", ("moderator",), 201,
       lambda ids: {"action": "approve"}),
    Op("get", "/v1/reviews", ("moderator",), 200, foreign="list"),
    Op("post", "/v1/reviews/{comment}/claim", ("moderator",), 200),
    Op("post", "/v1/reviews/{comment}/release", ("moderator",), 204),
    Op("post", "/v1/reviews/{comment}/decision", ("moderator",), 201,
       lambda ids: {"action": "reject", "reason_code": REASONS[0].code}),
    Op("post", "/v1/reviews/bulk-decision", ("moderator",), 200,
       lambda ids: {"comment_ids": [ids["comment"]], "action": "approve"}, foreign="bulk"),
    Op("post", "/v1/reviews/{comment}/undo", ("moderator",), 409),
    Op("get", "/v1/authors/{author}", ("moderator",), 200),
    Op("put", "/v1/authors/{author}/status", ("moderator",), 200,
       lambda ids: {"status": "trusted", "reason": "long-standing reader"}, foreign="own"),
    Op("post", "/v1/authors/{author}/notes", ("moderator",), 201,
       lambda ids: {"text": "Writes long, civil comments."}, foreign="own"),
    Op("delete", "/v1/authors/{author}", (), 200, foreign="own"),
    Op("get", "/v1/audit", ("moderator",), 200, foreign="list",
       query={"comment_id": "{comment}"}),
    Op("get", "/v1/webhooks/deliveries", (), 200, foreign="list"),
    Op("post", "/v1/webhooks/deliveries/{delivery}/redeliver", (), 202),
    Op("get", "/v1/rules", (), 200, foreign="list"),
    Op("post", "/v1/rules/reload", (), 200, foreign="list"),
    Op("get", "/v1/rules/stats", (), 200, foreign="list"),
    Op("get", "/v1/rules/versions/{version}", (), 200),
    Op("get", "/v1/perspective/suggestions", (), 200, foreign="list"),
    Op("get", "/v1/sites", (), 200, foreign="list"),
]  # fmt: skip


def test_the_matrix_names_every_documented_operation(matrix):
    client, _ = matrix
    documented = {
        (method, path)
        for path, item in client.get("/openapi.json").json()["paths"].items()
        for method in item
    }
    covered = {(op.method, op.path.replace("{comment}", "{comment_id}")
                .replace("{article}", "{article_id}").replace("{author}", "{author_id}")
                .replace("{delivery}", "{delivery_id}").replace("{version}", "{version_hash}"))
               for op in OPS} | PUBLIC | PERSPECTIVE  # fmt: skip
    assert documented - covered == set(), "add the new operation to OPS"
    assert covered - documented == set()


# --- the stack: two sites with their keys, rows per cell ----------------------------------
@pytest.fixture(scope="module", params=DB_PARAMS)
def matrix(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """One app and database per database kind for the whole module (the cells keep apart
    by their own rows), Daily News with a rules file of its own."""
    from moderation.api.main import create_app
    from moderation.db import make_engine, make_session_factory

    tmp = tmp_path_factory.mktemp("matrix")
    database_url = migrated_database(request, tmp)
    conn = redis_lib.Redis.from_url(TEST_REDIS_URL)
    conn.flushdb()
    own_rules = tmp / "daily-news.yaml"
    own_rules.write_text(
        (ROOT / "rules" / "default.yaml").read_text() + "\n# Daily News' own copy\n"
    )
    (tmp / "words").symlink_to(ROOT / "rules" / "words")
    engine = make_engine(database_url)
    session_factory = make_session_factory(engine)
    with all_sites_session(session_factory) as s:
        s.add(Site(id=A, name="Daily News", community_ids=["daily"], rules_path=str(own_rules)))
        s.add(Site(id=B, name="Evening Post", community_ids=["evening"]))
        s.commit()
    settings = usual_settings(database_url, tmp / "var", api_keys=SPEC)
    with TestClient(create_app(settings)) as client:
        version = client.get("/v1/rules", headers=bearer("admin", A)).json()["version"]
        yield client, Seeder(session_factory, version)
    engine.dispose()
    conn.flushdb()
    conn.close()


def bearer(role: str, site: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[role, site]}"}


OPERATOR = {"Authorization": f"Bearer {OPERATOR_KEY}"}


class Seeder:
    """Rows of one site for one cell: an article, an escalated comment with its review, an
    author with a status, a delivery, a decision of the site's own rules version."""

    counter = itertools.count()

    def __init__(self, session_factory, version: str):
        self.session_factory = session_factory
        self.version = version

    def seed(self, site: str) -> dict[str, str]:
        tag = f"{site[:1]}{next(self.counter)}"
        ids = {"article": f"art-{tag}", "comment": f"com-{tag}", "author": f"aut-{tag}",
               "delivery": f"del-{tag}", "new": f"new-{tag}", "version": self.version,
               "tag": tag}  # fmt: skip
        factory = partial(site_session, self.session_factory, site)
        add_comment(factory, ids["comment"], f"Rude words from {tag}.", author=ids["author"],
                    article=ids["article"])  # fmt: skip
        with factory() as s:
            from moderation.db import Decision

            if site == A:  # A's own rules decided A's comments; B's were the deployment's
                decision = s.query(Decision).filter_by(comment_id=ids["comment"]).one()
                decision.rules_version = self.version
            s.add(WebhookDelivery(id=ids["delivery"], event="comment.escalated",
                                  comment_id=ids["comment"], url="http://127.0.0.1:9/hook",
                                  body=b"{}", status="failed", attempts=3,
                                  created_at=utcnow()))  # fmt: skip
            s.commit()
        return ids


def request(client: TestClient, op: Op, ids: dict[str, str], headers: dict[str, str],
            extra_query: dict[str, str] | None = None):  # fmt: skip
    path = op.path.format(**ids)
    query = {k: v.format(**ids) for k, v in op.query.items()} | (extra_query or {})
    body = op.body(ids) if op.body else None
    return client.request(op.method.upper(), path, headers=headers, params=query,
                          json=body)  # fmt: skip


PRINCIPALS = [
    *[(role, A) for role in ROLES],
    *[(role, B) for role in ROLES],
    ("operator", None),
    ("operator", A),
    ("nobody", None),
]


def cell_id(value: Any) -> str:
    if isinstance(value, Op):
        return f"{value.method} {value.path}"
    role, site = value
    return f"{role}@{site or '-'}"


@pytest.mark.parametrize("principal", PRINCIPALS, ids=cell_id)
@pytest.mark.parametrize("op", OPS, ids=cell_id)
def test_cell(matrix, op: Op, principal: tuple[str, str | None]):
    client, seeder = matrix
    ids = seeder.seed(A)
    theirs = seeder.seed(B)  # B's own rows, which B's lists must show
    role, site = principal
    allowed = role in ("admin", "operator") or role in op.roles
    extra: dict[str, str] = {}
    if role == "nobody":
        headers, expected = {}, 401
    elif role == "operator":
        headers = OPERATOR
        if site is None:
            expected = op.ok if op.foreign == "global" or op.path == "/v1/sites" else 400
        else:
            extra, expected = {"site": site}, op.ok
    elif not allowed:
        headers, expected = bearer(role, site), 403
    elif site == A:
        headers, expected = bearer(role, A), op.ok
    else:
        headers = bearer(role, B)
        expected = {"404": 404, "own": op.ok if op.method != "put" or "authors" in op.path
                    else 201, "422": 422, "batch": 422, "bulk": 200, "list": op.ok,
                    "global": op.ok}[op.foreign]  # fmt: skip
    response = request(client, op, ids, headers, extra)
    assert response.status_code == expected, response.text
    if response.status_code >= 500 or not response.content:
        return
    text = response.text
    if site == B and role != "operator":
        # Nothing of A's rows (its comment's text, its article's title, its rules file),
        # whatever B's key asked for: the ids B named may come back in the error, nothing else.
        assert f"from {ids['tag']}." not in text, text[:2000]
        assert f"({ids['article']})" not in text and "daily-news.yaml" not in text, text[:2000]
        if op.foreign == "list" and allowed and op.path == "/v1/reviews":
            # B's own escalation is there (found by its id: the module's cells add many).
            mine = client.get("/v1/reviews", headers=headers, params={"q": theirs["comment"]})
            assert [r["comment_id"] for r in mine.json()["items"]] == [theirs["comment"]]
            other = client.get("/v1/reviews", headers=headers, params={"q": ids["comment"]})
            assert other.json()["items"] == []
        if op.foreign == "bulk" and allowed:
            assert response.json()["results"][0]["outcome"] == "not_found"
        if op.foreign == "own" and allowed and op.method == "put" and "authors" in op.path:
            assert response.json()["previous_status"] == "normal"  # not A's author
    if op.path == "/v1/sites" and response.status_code == 200:
        shown = sorted(s["id"] for s in response.json()["items"])
        assert shown == ({A: [A], B: [B]}.get(site or "") if role != "operator"
                         else ["daily-news", "default", "evening-post"])  # fmt: skip
    if op.path == "/v1/rules" and response.status_code == 200 and role != "operator":
        assert response.json()["source"].endswith("daily-news.yaml") == (site == A)


def test_a_sites_rows_are_untouched_by_another_sites_keys(matrix):
    """B's calls that name A's ids act on B's own namespace: A's rows stay as they were."""
    client, seeder = matrix
    session_factory = seeder.session_factory
    ids = seeder.seed(A)
    for op in OPS:
        if op.foreign in ("own", "404") and ("admin" in op.roles or True):
            request(client, op, ids, bearer("admin", B))
    with site_session(session_factory, A) as s:
        from moderation.db import Article, Author, Comment

        comment = s.get(Comment, (A, ids["comment"]))
        assert comment.status == "escalated" and comment.text.startswith("Rude words")
        assert s.get(Article, (A, ids["article"])).title.startswith("Bus lanes")
        assert s.get(Author, (A, ids["author"])) is None  # B's status went to B's author
    body = json.loads(request(client, OPS[6], ids, bearer("moderator", A)).text)
    assert body["items"] == []  # B's report went nowhere near A's comment
