"""The /moderate page's second-day views (issue #15), in a real Chromium against a real API
server: readers' reports on the card, the author panel (`p`: status, counts, latest comments,
notes; set a status, add a note), the History of a card and of an author (the audit log),
the search box and the sort control, "My decisions" with its Undo, and the event stream
(/moderate/events) that brings new escalations and others' decisions before the next poll.

The server, database and seeding are tests/e2e/test_moderate_page_review.py's.
"""

from __future__ import annotations

import json
import re
import threading
from datetime import timedelta

import httpx
import pytest

from moderation.db.models import Author
from moderation.policy import ReportReason
from moderation.reports import NewReport, record_report
from tests.conftest import API_KEYS
from tests.e2e import test_moderate_page_review as review
from tests.e2e.test_moderate_page_review import BOB_KEY, seed, sign_in, status, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.browser]

# That module's fixtures, for this module (a server of its own).
review_stack = review.review_stack
stack = review.stack
browser = review.browser


def report(session_factory, cid: str, *reasons: tuple[str, str]) -> None:
    with session_factory() as s:
        for reader, reason in reasons:
            new = NewReport(reporter_id=reader, reason=ReportReason(reason))
            record_report(session=s, comment_id=cid, new=new)
        s.commit()


def test_a_reported_comment_says_how_often_and_why(stack, browser):
    stack, sf = stack
    seed(sf, "c-rep", age=timedelta(minutes=3))
    seed(sf, "c-quiet", author="u2", age=timedelta(minutes=2))
    report(sf, "c-rep", ("r1", "abusive"), ("r2", "spam"), ("r3", "abusive"))
    page = sign_in(browser, stack)
    reported = page.locator(".card[data-id='c-rep'] .reports")
    assert reported.inner_text() == "Reported 3× (2 abusive, 1 spam)"
    assert page.locator(".card[data-id='c-quiet'] .reports").count() == 0
    # A new report shows on the open page at the next poll.
    report(sf, "c-quiet", ("r9", "off_topic"))
    page.locator(".card[data-id='c-quiet'] .reports").wait_for(timeout=10_000)
    assert page.locator(".card[data-id='c-quiet'] .reports").inner_text() == (
        "Reported 1× (1 off-topic)"
    )
    assert page.errors == []


def test_the_author_panel_sets_a_status_adds_a_note_and_shows_the_history(stack, browser):
    stack, sf = stack
    seed(sf, "c1", "First of a spam run, honestly.", author="spammer", age=timedelta(minutes=5))
    seed(sf, "c2", "Second of a spam run, honestly.", author="spammer", age=timedelta(minutes=4))
    seed(sf, "c3", "Someone else entirely.", author="reader", age=timedelta(minutes=3))
    page = sign_in(browser, stack)
    assert page.locator(".card").first.get_attribute("data-id") == "c1"

    # `p` opens the selected card's author; the panel's heading takes the focus.
    page.keyboard.press("p")
    dialog = page.get_by_role("dialog", name="Author spammer (Reader spammer)")
    dialog.wait_for()
    assert page.evaluate("document.activeElement.id") == "author-title"
    status_line = page.locator("#author-status")
    # Locator waits run in Playwright's own world; a string predicate (wait_for_function) is
    # eval'd in the page's, which its Content-Security-Policy forbids once it has to poll.
    page.locator("#author-status", has_not_text="Loading").wait_for()
    assert status_line.inner_text() == "Status: normal"
    assert page.locator("#author-counts").inner_text() == (
        "2 comments: 0 approved · 0 rejected · 2 escalated · 0 pending"
    )
    assert page.locator("#author-comments li").count() == 2
    # Keys typed in the panel stay in it (no approve with `a` while writing a note).
    page.get_by_label("Add a note").fill("Posts the same link on every article.")
    page.get_by_role("button", name="Add note").click()
    page.locator("#author-notes li.author-note").wait_for(timeout=5_000)
    note = page.locator("#author-notes li.author-note").first.inner_text()
    assert note.startswith("moderator-tester") and note.endswith(
        ": Posts the same link on every article."
    )
    assert status(sf, "c1") == "escalated"

    # Suspend: the until field appears; reject pending takes their queued comments.
    page.locator("#author-status-select").select_option("suspended")
    assert page.get_by_label("Suspended until", exact=True).is_visible()
    page.get_by_label("Suspended until", exact=True).fill("2099-01-01T10:00")
    page.locator("#author-reason-code").select_option("spam")
    page.get_by_label("Reason (for moderators and the publisher)").fill("link spam")
    page.get_by_label("Reject their pending comments too").check()
    page.get_by_role("button", name="Set status").click()
    page.locator("#author-message:has-text('Status set: suspended')").wait_for(timeout=5_000)
    assert "rejected 2 pending (c1, c2)" in page.locator("#author-message").inner_text()
    wait_until(lambda: "suspended until" in status_line.inner_text(), what="status shown")
    assert "set by moderator-tester (spam): link spam" in status_line.inner_text()
    with sf() as s:
        author = s.get(Author, ("default", "spammer"))
        assert author is not None and author.status == "suspended"
        assert author.suspended_until is not None and author.suspended_until.year == 2099
    assert status(sf, "c1") == status(sf, "c2") == "rejected"

    # The author's history: the status change and the note, newest first.
    history = page.get_by_role("button", name="History", exact=True).and_(
        page.locator("#author-history")
    )
    history.click()
    assert history.get_attribute("aria-expanded") == "true"
    rows = page.locator("#author-history-list li")
    rows.first.wait_for(timeout=5_000)
    texts = rows.all_inner_texts()
    assert len(texts) == 2
    assert "moderator-tester · author.status · normal → suspended" in texts[0]
    assert "reason_code: spam" in texts[0] and "rejected: c1, c2" in texts[0]
    assert "moderator-tester · author.note" in texts[1]

    # Esc closes the panel and gives the focus back; the author's cards have left the queue.
    page.keyboard.press("Escape")
    assert dialog.is_hidden()
    page.locator(".card[data-id='c1']").wait_for(state="detached", timeout=10_000)
    assert card_ids(page) == ["c3"]
    assert page.evaluate("document.activeElement.closest('.card')?.dataset.id") == "c3"
    assert page.errors == []


def test_a_cards_history_lists_its_audit_rows(stack, browser):
    stack, sf = stack
    seed(sf, "c1", age=timedelta(minutes=2))
    report(sf, "c1", ("r1", "spam"))
    page = sign_in(browser, stack)
    card = page.locator(".card[data-id='c1']")
    card.get_by_role("button", name="Claim").click()
    card.locator(".chip.claim").wait_for(timeout=5_000)
    toggle = card.get_by_role("button", name="History")
    assert toggle.get_attribute("aria-expanded") == "false"
    toggle.click()
    rows = card.locator("ol.audit li")
    rows.first.wait_for(timeout=5_000)
    texts = rows.all_inner_texts()
    assert "moderator-tester · review.claim · open → claimed" in texts[0]
    assert "publisher · comment.reported · escalated → escalated" in texts[1]
    assert card.get_by_role("button", name="History").get_attribute("aria-expanded") == "true"
    # It stays open across polls, and closes again.
    page.wait_for_timeout(3500)
    assert card.locator("ol.audit li").count() == len(texts)
    card.get_by_role("button", name="History").click()
    assert card.locator("ol.audit").is_hidden()
    assert page.errors == []


def card_ids(page) -> list[str]:
    """The cards' ids in one read (the queue is rebuilt as the search narrows it)."""
    ids: list[str] = page.evaluate("[...document.querySelectorAll('.card')].map(c => c.dataset.id)")
    return ids


def test_search_and_sort_narrow_and_order_the_queue(stack, browser):
    stack, sf = stack
    seed(sf, "c1", "Bus lanes are a bad idea.", priority=1, scores={"toxicity": 0.9},
         age=timedelta(minutes=9))  # fmt: skip
    seed(sf, "c2", "Trams would be better.", author="u2", priority=5, scores={"toxicity": 0.2},
         age=timedelta(minutes=8))  # fmt: skip
    seed(sf, "c3", "More bus lanes, please.", priority=3, scores={"toxicity": 0.5},
         age=timedelta(minutes=7))  # fmt: skip
    page = sign_in(browser, stack)
    assert card_ids(page) == ["c2", "c3", "c1"]  # priority
    page.locator("#sort").select_option("oldest")
    wait_until(lambda: card_ids(page) == ["c1", "c2", "c3"], what="oldest first")
    page.locator("#sort").select_option("toxicity")
    wait_until(lambda: card_ids(page) == ["c1", "c3", "c2"], what="most toxic first")

    search = page.get_by_role("searchbox", name="Search")
    page.keyboard.press("/")  # the key for the box
    assert page.evaluate("document.activeElement.id") == "search"
    page.keyboard.type("BUS LANES")
    wait_until(lambda: card_ids(page) == ["c1", "c3"], what="text search")
    # Typing in the box is not a key for the queue: nothing was approved by the "a" in it.
    assert status(sf, "c1") == status(sf, "c3") == "escalated"
    search.fill("u2")
    search.press("Enter")  # at once, and the keys go back to the queue
    wait_until(lambda: card_ids(page) == ["c2"], what="author search")
    assert page.evaluate("document.activeElement.closest('.card')?.dataset.id") == "c2"
    search.press("Escape")
    wait_until(lambda: card_ids(page) == ["c1", "c3", "c2"], what="search cleared")
    assert page.errors == []


def test_my_decisions_lists_the_latest_and_undoes_one(stack, browser):
    stack, sf = stack
    seed(sf, "c1", "First comment to decide.", age=timedelta(minutes=3))
    seed(sf, "c2", "Second comment to decide.", author="u2", age=timedelta(minutes=2),
         url="https://news.example/a1")  # fmt: skip
    page = sign_in(browser, stack)
    page.keyboard.press("a")
    page.locator(".card[data-id='c1']").wait_for(state="detached", timeout=5_000)
    wait_until(lambda: status(sf, "c1") == "approved", what="c1 approved")
    page.wait_for_timeout(1100)  # the next card settles first
    page.keyboard.press("r")
    wait_until(lambda: status(sf, "c2") == "rejected", what="c2 rejected")

    page.get_by_role("button", name="My decisions").click()
    dialog = page.get_by_role("dialog", name="My recent decisions")
    dialog.wait_for()
    rows = page.locator("#decisions-list li.decision-row")
    rows.first.wait_for(timeout=5_000)
    texts = rows.all_inner_texts()
    assert len(texts) == 2
    assert "rejected" in texts[0] and "c2" in texts[0] and "Second comment" in texts[0]
    assert "approved" in texts[1] and "c1" in texts[1]
    assert rows.first.get_by_role("link").get_attribute("href") == "https://news.example/a1"
    page.get_by_role("button", name="Undo the decision on c1").click()
    page.locator("#decisions-message:has-text('Undone: c1')").wait_for(timeout=5_000)
    wait_until(lambda: status(sf, "c1") == "escalated", what="c1 back")
    wait_until(lambda: rows.count() == 1, what="the undone decision gone from the list")
    page.keyboard.press("Escape")
    assert dialog.is_hidden()
    page.locator(".card[data-id='c1']").wait_for(timeout=10_000)
    assert page.errors == []


def signed_in_client(url: str, key: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=20)
    form = client.get("/moderate").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token
    r = client.post("/moderate/sign-in", data={"key": key, "csrf_token": token.group(1)})
    assert r.status_code in (200, 303), r.text
    return client


def test_the_event_stream_sends_new_escalations_and_others_decisions(stack, browser):
    stack, sf = stack
    seed(sf, "c-bob", age=timedelta(minutes=5))
    frames: list[tuple[str, dict]] = []
    ready = threading.Event()

    def read(client: httpx.Client) -> None:
        with client.stream("GET", "/moderate/events") as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            assert "script-src 'self'" in r.headers["content-security-policy"]
            kind = None
            for line in r.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind:
                    frames.append((kind, json.loads(line[6:])))
                    if kind == "ready":
                        ready.set()
                    if {"decided", "changed"} <= {k for k, _ in frames}:
                        return

    mine = signed_in_client(stack.url, API_KEYS["moderator"])
    bob = signed_in_client(stack.url, BOB_KEY)
    try:
        reader = threading.Thread(target=read, args=(mine,), daemon=True)
        reader.start()
        assert ready.wait(10), frames
        seed(sf, "c-new", age=timedelta(seconds=5))
        token = re.search(r'name="csrf-token" content="([^"]+)"', bob.get("/moderate").text)
        assert token
        csrf = {"X-CSRF-Token": token.group(1)}
        assert bob.post("/moderate/reviews/c-bob/claim", headers=csrf).status_code == 200
        r = bob.post("/moderate/reviews/c-bob/decision", json={"action": "approve"},
                     headers=csrf)  # fmt: skip
        assert r.status_code == 201, r.text
        reader.join(15)
    finally:
        mine.close()
        bob.close()
    kinds = [(k, d.get("comment_id")) for k, d in frames]
    assert kinds[0] == ("ready", None)
    assert ("escalated", "c-new") in kinds
    assert ("changed", None) in kinds  # bob's claim (an audit row: subject_id, not comment_id)
    claim = next(d for k, d in frames if k == "changed")
    assert claim == {"subject_type": "comment", "subject_id": "c-bob", "action": "review.claim",
                     "actor": "bob"}  # fmt: skip
    decided = next(d for k, d in frames if k == "decided")
    assert decided == {"comment_id": "c-bob", "action": "approve", "moderator": "bob"}

    # The page listens: a new escalation shows without waiting for a 3 s poll.
    page = sign_in(browser, stack)
    page.wait_for_selector("body[data-live='1']", timeout=10_000)
    seed(sf, "c-live", age=timedelta(seconds=1))
    page.locator(".card[data-id='c-live']").wait_for(timeout=10_000)
    assert page.errors == []
