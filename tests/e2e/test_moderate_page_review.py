"""How a moderator works the /moderate page, in a real Chromium against a real API server
(issue #15): a button for every key, one decision per double press, selecting is not
claiming, long comments clamped, the selected card below the sticky header, cards in the Tab
order and announced, contrast and sizes, each card's age, ids and article link.

One API server for the module (no worker: the reviews are written into its SQLite database,
emptied before each test); a second moderator, bob, signs in where a test needs one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from moderation.articles import upsert_article
from moderation.comments import NewComment, create_comment
from moderation.db import AuditEntry, Base, Comment, DecidedBy, Score
from moderation.db.models import ReviewClaim, utcnow
from moderation.decisions import record_decision
from tests.browser import launch_chromium
from tests.conftest import API_KEYS, API_KEYS_SPEC, auth

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.browser]

BOB_KEY = "bob-moderator-key-0123456789"
PUB = auth("publisher")
READY = "body.queue-page[data-loaded='1']"
LOREM = (
    "The council's plan moves the bus stop two streets down, which nobody asked for, "
    "and the consultation ran for a week in August when half the street was away. "
)


@pytest.fixture(scope="module")
def review_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    from moderation.db import make_engine, make_session_factory, upgrade
    from tests.e2e.conftest import RedisServer, Stack

    tmp = tmp_path_factory.mktemp("moderate-review")
    url = f"sqlite:///{tmp / 'moderation.db'}"
    engine = make_engine(url)
    upgrade(engine)
    redis = RedisServer(tmp / "redis")
    redis.start()
    keys = f"{API_KEYS_SPEC},moderator/bob:{BOB_KEY}"
    stack = Stack(tmp, url, redis.url, {"MODERATION_API_KEYS": keys})
    try:
        stack.start_api()
        yield stack, make_session_factory(engine)
    finally:
        stack.stop()
        redis.kill()
        engine.dispose()


@pytest.fixture
def stack(review_stack):
    """The module's server, its database emptied."""
    stack, session_factory = review_stack
    with session_factory() as s:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name != "sites":  # the default site stays, as migrations leave it
                s.execute(table.delete())
        s.commit()
    return stack, session_factory


@pytest.fixture(scope="module")
def browser():
    yield from launch_chromium()


def seed(
    session_factory,
    cid: str,
    text: str = "What a stupid idea, honestly.",
    *,
    author: str = "u1",
    name: str | None = None,
    article: str = "a1",
    title: str | None = None,
    url: str | None = None,
    age: timedelta = timedelta(minutes=1),
    spans: Sequence[tuple[int, int]] = ((7, 13),),
    scores: dict[str, float] | None = None,
    priority: int = 0,
) -> None:
    """An escalated comment as the worker leaves one: scores, evidence, the escalation."""
    with session_factory() as s:
        upsert_article(
            session=s, article_id=article, title=title or f"Bus lanes ({article})",
            body="The council voted to add bus lanes on Main Street.", url=url,
        )  # fmt: skip
        comment, _ = create_comment(
            session=s,
            new=NewComment(
                id=cid, article_id=article, text=text, author_id=author,
                author_name=name or f"Reader {author}", created_at=utcnow() - age,
            ),
        )  # fmt: skip
        evidence = {
            "model": "test",
            "spans": [{"start": a, "end": b, "text": text[a:b], "weight": 1.2} for a, b in spans],
        }
        for score, value in (scores or {"toxicity": 0.5, "spam": 0.1}).items():
            s.add(
                Score(
                    comment_id=cid,
                    name=score,
                    value=value,
                    evidence=evidence if score == "toxicity" else {"caps_ratio": 0.0},
                )
            )
        record_decision(
            session=s, comment=comment, action="escalate", decided_by=DecidedBy.RULES,
            reasons=[{"rule": "borderline", "message": "toxicity 0.50"}],
            rules_version="f" * 64, rule="borderline", priority=priority,
            labels=["needs-eyes"],
        )  # fmt: skip
        s.commit()


def sign_in(browser, stack, key: str = API_KEYS["moderator"], **context: Any):
    context = browser.new_context(**({"viewport": {"width": 1200, "height": 820}} | context))
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{stack.url}/moderate")
    page.fill("#key", key)
    page.click("button[type=submit]")
    page.wait_for_selector(READY, timeout=20_000)
    page.errors = errors  # checked by the tests: the script never throws
    return page


def status(session_factory, cid: str) -> str:
    with session_factory() as s:
        comment = s.get(Comment, ("default", cid))
        assert comment is not None
        return comment.status


def audit_actions(session_factory) -> list[tuple[str, str, str]]:
    with session_factory() as s:
        return [
            (a.actor, a.action, a.subject_id)
            for a in s.scalars(select(AuditEntry).order_by(AuditEntry.id))
        ]


def claims(session_factory) -> dict[str, str]:
    with session_factory() as s:
        return {c.comment_id: c.moderator for c in s.scalars(select(ReviewClaim))}


def selected(page) -> str | None:
    return page.locator(".card.selected").get_attribute("data-id")


def wait_until(predicate, timeout: float = 10.0, what: str = "condition") -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} not met in {timeout} s")


# --- 1. buttons -------------------------------------------------------------------------------


def test_every_key_has_a_button_and_the_buttons_act_on_their_card(stack, browser):
    stack, sf = stack
    for n in range(4):
        seed(sf, f"c{n}", f"Comment number {n}: what a stupid idea.", age=timedelta(minutes=9 - n))
    page = sign_in(browser, stack)
    cards = page.locator(".card")
    assert cards.count() == 4
    for name in ("Approve", "Reject", "Note", "Claim"):
        assert page.get_by_role("button", name=name, exact=True).count() == 4, name
    for name in ("Previous", "Next", "Help"):
        assert page.get_by_role("button", name=name, exact=True).is_visible(), name
    assert selected(page) == "c0"

    # A card's buttons act on that card, not on the selected one.
    third = page.locator(".card[data-id='c2']")
    third.get_by_role("button", name="Approve").click()
    page.locator(".card[data-id='c2']").wait_for(state="detached", timeout=2_000)
    wait_until(lambda: status(sf, "c2") == "approved", what="c2 approved")
    assert status(sf, "c0") == status(sf, "c1") == "escalated"
    toast = page.locator("#toast")
    toast.get_by_text("Approved: c2", exact=False).wait_for(timeout=5_000)

    # Note: the dialog has Save and Cancel buttons; the note goes with that card's decision.
    page.wait_for_timeout(1_100)  # the settle time after a decision
    first = page.locator(".card[data-id='c0']")
    first.get_by_role("button", name="Note").click()
    assert page.locator("#note-dialog").is_visible()
    page.fill("#note-text", "checked the thread")
    page.get_by_role("button", name="Save note").click()
    assert page.locator("#note-dialog").is_hidden()
    assert page.locator(".card[data-id='c0'] .note").inner_text() == "Note: checked the thread"
    page.locator(".card[data-id='c0']").get_by_role("button", name="Reject", exact=True).click()
    wait_until(lambda: status(sf, "c0") == "rejected", what="c0 rejected")
    with httpx.Client(base_url=stack.url, headers=PUB) as c:
        assert c.get("/v1/comments/c0").json()["decision"]["note"] == "checked the thread"

    # Next / Previous move the selection (and the focus with it).
    page.wait_for_timeout(1_100)
    assert [c.get_attribute("data-id") for c in page.locator(".card").all()] == ["c1", "c3"]
    page.get_by_role("button", name="Previous").click()
    assert selected(page) == "c1"
    page.get_by_role("button", name="Next").click()
    assert selected(page) == "c3"
    assert page.evaluate("document.activeElement.dataset.id") == "c3"

    # Help opens and closes with buttons; it lists every key the page takes.
    page.get_by_role("button", name="Help").click()
    help_dialog = page.get_by_role("dialog", name="Keyboard")
    assert help_dialog.is_visible()
    keys = help_dialog.locator("kbd").all_inner_texts()
    assert {"j", "k", "a", "r", "n", "c", "e", "?", "Esc", "Tab"} <= set(keys), keys
    help_dialog.get_by_role("button", name="Close").click()
    assert page.locator("#help").is_hidden()
    assert page.errors == []


# --- 2. one decision per double press ---------------------------------------------------------


def test_a_double_press_decides_one_comment_and_the_next_card_settles_first(stack, browser):
    stack, sf = stack
    for n in range(4):
        seed(sf, f"c{n}", f"Comment {n}: what a stupid idea.", age=timedelta(minutes=9 - n))
    page = sign_in(browser, stack)
    page.locator(".card[data-id='c0']").click()
    # Two presses in a few milliseconds: the first decides c0, the second meets the settle.
    page.keyboard.press("a")
    page.keyboard.press("a")
    wait_until(lambda: status(sf, "c0") == "approved", what="c0 approved")
    nxt = page.locator(".card[data-id='c1']")
    assert selected(page) == "c1"
    assert nxt.get_by_role("button", name="Approve").is_disabled()
    assert nxt.get_by_role("button", name="Reject", exact=True).is_disabled()
    assert nxt.locator(".settle-cue").inner_text() == "Wait a moment…"
    assert "Approved: c0" in page.locator("#toast").inner_text()
    # After the settle time the card says so and can be decided.
    ready = nxt.locator(".settle-cue.ready")
    ready.wait_for(timeout=3_000)
    assert ready.inner_text() == "Ready"
    assert nxt.get_by_role("button", name="Approve").is_enabled()
    page.wait_for_timeout(500)
    assert status(sf, "c1") == "escalated"

    # A held key: its auto-repeated keydowns (event.repeat) decide nothing.
    page.keyboard.down("r")
    page.wait_for_timeout(1_300)
    page.keyboard.down("r")  # repeat=true, after the settle time
    page.keyboard.down("r")
    page.keyboard.up("r")
    wait_until(lambda: status(sf, "c1") == "rejected", what="c1 rejected")
    page.wait_for_timeout(500)
    assert status(sf, "c2") == "escalated"
    assert selected(page) == "c2"

    # A double click on Approve: the second click lands on the next card, which settles.
    page.wait_for_timeout(1_100)
    page.locator(".card[data-id='c2']").get_by_role("button", name="Approve").dblclick()
    wait_until(lambda: status(sf, "c2") == "approved", what="c2 approved")
    page.wait_for_timeout(500)
    assert status(sf, "c3") == "escalated"
    assert page.locator(".card").count() == 1
    assert page.errors == []


# --- 3. selecting is not claiming -------------------------------------------------------------


def test_selecting_never_claims_and_claiming_is_explicit(stack, browser):
    stack, sf = stack
    for n in range(3):
        seed(sf, f"c{n}", f"Comment {n}: what a stupid idea.", age=timedelta(minutes=9 - n))
    page = sign_in(browser, stack)
    bob = sign_in(browser, stack, key=BOB_KEY)
    page.locator(".card[data-id='c1']").click()
    for key in "jkkj":
        page.keyboard.press(key)
        page.wait_for_timeout(200)
    page.locator(".card[data-id='c2']").click()
    page.wait_for_timeout(1_500)  # the old page claimed the selected card after 600 ms
    page.wait_for_timeout(3_200)  # and a poll
    assert claims(sf) == {}
    assert not [a for a in audit_actions(sf) if a[1].startswith("review.")]
    assert page.locator("#count-claimed").inner_text() == "0"
    assert page.locator(".chip.claim").count() == 0

    # Claim with the key: the card says so, and bob's queue skips it.
    page.keyboard.press("c")
    card = page.locator(".card[data-id='c2']")
    card.locator(".chip.claim").wait_for(timeout=5_000)
    assert card.locator(".chip.claim").inner_text().startswith("claimed by you")
    assert card.get_by_role("button", name="Release").is_visible()
    assert claims(sf) == {"c2": "moderator-tester"}
    bob.locator(".card[data-id='c2']").wait_for(state="detached", timeout=10_000)
    assert bob.locator("#count-claimed").inner_text() == "1"
    # The server keeps its checks: bob cannot decide it from a stale page.
    token = bob.locator("meta[name=csrf-token]").get_attribute("content")
    cookie = next(c["value"] for c in bob.context.cookies() if c["name"] == "moderate_session")
    with httpx.Client(base_url=stack.url, cookies={"moderate_session": cookie}) as c:
        r = c.post("/moderate/reviews/c2/decision", json={"action": "approve"},
                   headers={"X-CSRF-Token": token})  # fmt: skip
    assert r.status_code == 409 and r.json()["claim"]["moderator"] == "moderator-tester"

    # Release with the button: bob sees it again.
    card.get_by_role("button", name="Release").click()
    card.get_by_role("button", name="Claim").wait_for(timeout=5_000)
    assert claims(sf) == {}
    bob.locator(".card[data-id='c2']").wait_for(timeout=10_000)

    # A claim made with the button is given back when the tab goes away (pagehide).
    page.locator(".card[data-id='c0']").get_by_role("button", name="Claim").click()
    page.locator(".card[data-id='c0']").get_by_role("button", name="Release").wait_for()
    assert claims(sf) == {"c0": "moderator-tester"}
    page.goto("about:blank")
    wait_until(lambda: claims(sf) == {}, what="claim released at pagehide")
    actions = [a[1] for a in audit_actions(sf) if a[2] == "c0" and a[1].startswith("review.")]
    assert actions == ["review.claim", "review.release"], actions
    # Deciding needs no claim.
    bob.locator(".card[data-id='c1']").click()
    bob.keyboard.press("a")
    wait_until(lambda: status(sf, "c1") == "approved", what="c1 approved by bob")
    assert page.errors == [] and bob.errors == []


# --- 4. long comments; the selected card below the sticky header ----------------------------


def test_long_comments_are_clamped_with_a_toggle_and_keep_their_highlighting(stack, browser):
    stack, sf = stack
    long_text = ("You idiot. " + LOREM * 60)[:7_980] + " You moron."
    assert len(long_text) > 7_900
    end = len(long_text)
    seed(sf, "c-long", long_text, spans=[(4, 9), (end - 6, end - 1)], age=timedelta(minutes=5))
    seed(sf, "c-short", "Short and stupid.", spans=[(10, 16)], age=timedelta(minutes=4))
    page = sign_in(browser, stack)
    card = page.locator(".card[data-id='c-long']")
    text = card.locator(".comment-text")
    line = page.evaluate(
        "parseFloat(getComputedStyle(document.querySelector('.comment-text')).lineHeight)"
    )
    box = text.bounding_box()
    assert box and box["height"] <= 12 * line + 2, (box, line)
    assert card.bounding_box()["height"] < 820  # the card fits the window
    toggle = card.get_by_role("button", name="Show all")
    assert toggle.get_attribute("aria-expanded") == "false"
    assert "1 highlighted passage below" in card.locator(".more-info").inner_text()
    # The whole text is there, highlighted where the spans say, clamped or not.
    assert text.text_content() == long_text
    assert text.locator("mark.tox").all_inner_texts() == ["idiot", "moron"]
    short = page.locator(".card[data-id='c-short']")
    assert short.locator(".more").is_hidden()  # a short comment has no toggle

    toggle.click()
    less = card.get_by_role("button", name="Show less")
    assert less.get_attribute("aria-expanded") == "true"
    assert text.bounding_box()["height"] > 5 * 12 * line
    assert text.text_content() == long_text
    assert text.locator("mark.tox").all_inner_texts() == ["idiot", "moron"]
    less.click()
    assert text.bounding_box()["height"] <= 12 * line + 2
    # The key does the same on the selected card.
    card.click()
    page.keyboard.press("e")
    card.get_by_role("button", name="Show less").wait_for()
    page.keyboard.press("e")
    card.get_by_role("button", name="Show all").wait_for()
    assert page.errors == []


def test_the_selected_card_is_never_under_the_sticky_header(stack, browser):
    stack, sf = stack
    for n in range(9):
        seed(sf, f"c{n}", f"Comment {n}. " + LOREM * 3, age=timedelta(minutes=20 - n))
    page = sign_in(browser, stack, viewport={"width": 1000, "height": 640})

    def check(expected: str) -> None:
        assert selected(page) == expected
        header = page.locator("header.top").bounding_box()
        box = page.locator(".card.selected").bounding_box()
        assert header and box
        assert box["y"] >= header["y"] + header["height"] - 0.5, (expected, box, header)
        assert box["y"] + box["height"] <= 640 + 0.5, (expected, box)

    page.locator(".card[data-id='c0']").click()
    for n in range(1, 9):
        page.keyboard.press("j")
        check(f"c{n}")
    for n in range(7, -1, -1):
        page.keyboard.press("k")
        check(f"c{n}")
    # Tabbing back to the selected card from the header, the browser's own scrolling (up,
    # from the bottom of the page) leaves it below the header too.
    for _ in range(4):
        page.keyboard.press("j")
    check("c4")
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    page.keyboard.press("Shift+Tab")  # to the header's last control
    assert page.evaluate("document.activeElement.closest('header') !== null")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.dataset.id") == "c4"
    check("c4")
    assert page.errors == []


# --- 5. accessibility ---------------------------------------------------------------------------

CONTRAST_JS = """
() => {
  const parse = (c) => {
    const m = c.match(/rgba?\\(([^)]+)\\)/);
    const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const lum = ({ r, g, b }) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const ratio = (x, y) => {
    const [a, b] = [lum(x), lum(y)].sort((p, q) => q - p);
    return (a + 0.05) / (b + 0.05);
  };
  // The colour an element is drawn on: the first opaque background at or above it.
  const backdrop = (node) => {
    for (let n = node; n; n = n.parentElement) {
      const c = parse(getComputedStyle(n).backgroundColor);
      if (c.a === 1) return c;
    }
    return { r: 255, g: 255, b: 255, a: 1 };
  };
  const bars = [...document.querySelectorAll(".fill")].map((fill) => ({
    kind: fill.className,
    track: ratio(parse(getComputedStyle(fill).backgroundColor), backdrop(fill.parentElement)),
    card: ratio(parse(getComputedStyle(fill).backgroundColor), backdrop(fill.closest(".card"))),
  }));
  const texts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let t = walker.nextNode(); t; t = walker.nextNode()) {
    const node = t.parentElement;
    if (!t.textContent.trim() || !node.getClientRects().length) continue;
    if (node.closest("[hidden], button:disabled")) continue;
    const style = getComputedStyle(node);
    texts.push({
      text: t.textContent.trim().slice(0, 40),
      where: node.className || node.tagName,
      ratio: ratio(parse(style.color), backdrop(node)),
      size: parseFloat(style.fontSize),
      inQueue: !!node.closest("#queue"),
    });
  }
  const chips = [...document.querySelectorAll(".chip")].map((c) => ({
    text: c.textContent, size: parseFloat(getComputedStyle(c).fontSize),
  }));
  return { bars, texts, chips };
}
"""


def test_cards_are_focusable_announced_and_readable(stack, browser):
    stack, sf = stack
    # One bar of each colour: low, mid and high concern.
    scores = {"identity_attack": 0.1, "spam": 0.5, "toxicity": 0.9}
    for n in range(3):
        seed(sf, f"c{n}", f"Comment {n}: what a stupid idea.", scores=scores,
             age=timedelta(minutes=9 - n), priority=2)  # fmt: skip
    seed(sf, "c0-before", "An older one by the same reader.", age=timedelta(hours=2))
    with sf() as s:  # c0-before decided, so c0's author history lists it
        from moderation.reviews import decide
        from moderation.reviews.moderator_decisions import ModeratorAction

        decide(session=s, comment_id="c0-before", moderator="ann",
               action=ModeratorAction.REJECT, lease_seconds=60)  # fmt: skip
    page = sign_in(browser, stack)
    cards = page.locator(".card")
    assert cards.count() == 3
    current = page.locator(".card[aria-current='true']")
    assert current.count() == 1 and current.get_attribute("data-id") == "c0"
    assert cards.nth(0).get_attribute("aria-label").startswith("Comment 1 of 3, by Reader u1")

    # Tab order: the header's controls, then the selected card, then its buttons.
    page.locator(".sign-out button").focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.dataset.id") == "c0"
    names = []
    for _ in range(4):
        page.keyboard.press("Tab")
        names.append(
            page.evaluate("document.activeElement.querySelector('.label-text').textContent")
        )
        assert page.evaluate("document.activeElement.closest('.card').dataset.id") == "c0"
    assert names == ["Approve", "Reject", "Note", "Claim"], names
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.dataset.id") == "c0"
    # Focus follows the selection, and aria-current with it.
    page.keyboard.press("j")
    assert page.evaluate("document.activeElement.dataset.id") == "c1"
    assert page.locator(".card[aria-current='true']").get_attribute("data-id") == "c1"
    assert page.locator(".card[aria-current]").count() == 1
    assert page.locator(".card[tabindex='0']").get_attribute("data-id") == "c1"
    # Tabbing into another card (here: from the card above, backwards) selects it.
    page.locator(".card[data-id='c0']").focus()
    assert selected(page) == "c0"

    found = page.evaluate(CONTRAST_JS)
    kinds = {b["kind"] for b in found["bars"]}
    assert kinds == {"fill low", "fill mid", "fill high"}, kinds
    for bar in found["bars"]:
        assert bar["track"] >= 3 and bar["card"] >= 3, bar
    low = [t for t in found["texts"] if t["ratio"] < 4.5]
    assert not low, low
    small = [t for t in found["texts"] if t["inQueue"] and t["size"] < 12]
    assert not small, small
    assert {c["text"] for c in found["chips"]} >= {"priority 2", "needs-eyes", "rejected"}
    assert all(c["size"] >= 12 for c in found["chips"]), found["chips"]
    assert page.errors == []


# --- 6. age, ids, author, article link; the reason's wording ----------------------------------


def test_cards_show_age_ids_author_and_a_link_to_the_article(stack, browser):
    stack, sf = stack
    seed(sf, "c-linked", author="reader-7", article="pk-ru", title="Pakistan turns to Russia",
         url="https://news.example/world/pk-ru", age=timedelta(minutes=5))  # fmt: skip
    seed(sf, "c-plain", author="reader-8", article="no-url", title="Letters",
         age=timedelta(hours=3))  # fmt: skip
    seed(sf, "c-script", author="reader-9", article="bad-url", title="Tricky",
         url="javascript:alert(1)", age=timedelta(days=3))  # fmt: skip
    with httpx.Client(base_url=stack.url, headers=auth("moderator")) as c:
        listed = {i["comment_id"]: i for i in c.get("/v1/reviews").json()["items"]}
    assert listed["c-linked"]["article"]["url"] == "https://news.example/world/pk-ru"

    page = sign_in(browser, stack)
    linked = page.locator(".card[data-id='c-linked']")
    age = linked.locator("time.age")
    assert age.inner_text() == "5 min ago"
    assert age.get_attribute("datetime") == listed["c-linked"]["created_at"]
    assert age.get_attribute("title")  # the absolute time, in the moderator's locale
    assert linked.locator(".comment-id").inner_text() == "c-linked"
    assert linked.locator(".author-id").inner_text() == "reader-7"
    assert linked.locator(".article-id").inner_text() == "pk-ru"
    link = linked.get_by_role("link", name="Pakistan turns to Russia")
    assert link.get_attribute("href") == "https://news.example/world/pk-ru"
    assert link.get_attribute("rel") == "noopener noreferrer"

    plain = page.locator(".card[data-id='c-plain']")
    assert plain.locator("time.age").inner_text() == "3 h ago"
    assert plain.locator("a").count() == 0  # no url: the title and the article id as text
    assert plain.locator(".article-title").inner_text() == "Letters"
    assert plain.locator(".article-id").inner_text() == "no-url"
    tricky = page.locator(".card[data-id='c-script']")
    assert tricky.locator("a").count() == 0  # only http(s) urls become links
    assert tricky.locator("time.age").inner_text() == "3 days ago"
    assert page.errors == []


def test_a_rejection_reads_rejected_by_moderator(stack, browser):
    stack, sf = stack
    seed(sf, "c-old", "An earlier one.", author="u5", age=timedelta(minutes=30))
    seed(sf, "c-new", "The later one.", author="u5", age=timedelta(minutes=3))
    page = sign_in(browser, stack)
    page.locator(".card[data-id='c-old']").get_by_role("button", name="Reject", exact=True).click()
    wait_until(lambda: status(sf, "c-old") == "rejected", what="c-old rejected")
    wait_until(  # the toast says "Rejecting: ..." until the page has the server's answer
        lambda: page.locator("#toast").inner_text().startswith("Rejected: c-old"),
        what="the toast saying it was rejected",
    )
    with httpx.Client(base_url=stack.url, headers=PUB) as c:
        decision = c.get("/v1/comments/c-old").json()["decision"]
    assert decision["reasons"] == [
        {"rule": "moderator", "message": "rejected by moderator moderator-tester"}
    ]
    # The same reader's other card lists it as rejected.
    recent = page.locator(".card[data-id='c-new'] .recent-rejected")
    recent.wait_for(timeout=10_000)
    assert recent.locator(".status-tag").inner_text().lower() == "rejected"
    assert "rejectd" not in page.locator("body").inner_text().lower()
    assert page.errors == []
