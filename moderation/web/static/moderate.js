// The review queue. Plain JS, no build step. Comment text is only ever set with
// textContent (never innerHTML), so whatever a reader writes stays text.
//
// Every key has a button (the card's buttons act on their card), selecting a card never
// claims it (claiming is the `c` key or the Claim button), and after each decision no other
// decision is taken for SETTLE_MS, shown on the card, so a double press decides one comment.
"use strict";

(function () {
  const POLL_MS = 3000;
  const LIVE_POLL_MS = 10000; // while the event stream is up, a slower poll catches the rest
  const SETTLE_MS = 1000; // after a decision, no other one for this long
  const READY_CUE_MS = 1500; // how long the card then says "Ready"
  const CLAMP_LINES = 12; // long comments show this many lines until "Show all" (CSS agrees)
  const TOAST_MS = 5000;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const headerEl = document.querySelector("header.top");
  const queueEl = document.getElementById("queue");
  const emptyEl = document.getElementById("empty");
  const statusEl = document.getElementById("status-line");
  const updatedEl = document.getElementById("updated-at");
  const filterEl = document.getElementById("article-filter");
  const helpEl = document.getElementById("help");
  const noteDialog = document.getElementById("note-dialog");
  const noteText = document.getElementById("note-text");
  const toastEl = document.getElementById("toast");
  const bulkBar = document.getElementById("bulk-bar");
  const reasonPicked = document.getElementById("reason-picked");
  const UNDO_MS = Number(document.querySelector('meta[name="undo-seconds"]').content) * 1000;
  const reasonButtons = [...document.querySelectorAll("#reason-bar .reason-pick")];
  const sortEl = document.getElementById("sort");
  const searchEl = document.getElementById("search");
  const decisionsDialog = document.getElementById("decisions-dialog");
  const decisionsList = document.getElementById("decisions-list");
  const decisionsMessage = document.getElementById("decisions-message");
  const authorDialog = document.getElementById("author-dialog");
  const authorStatusSelect = document.getElementById("author-status-select");
  const authorUntilField = document.getElementById("author-until-field");
  const authorRejectPending = document.getElementById("author-reject-pending");
  const authorMessage = document.getElementById("author-message");
  const authorHistoryButton = document.getElementById("author-history");
  const authorHistoryList = document.getElementById("author-history-list");

  let items = [];
  let me = null;
  let selectedId = null;
  const decided = new Set(); // removed at once, kept out until the server agrees
  const notes = new Map();
  const expanded = new Set(); // long comments shown whole
  const claimedHere = new Set(); // claims this page took: given back when it closes
  let lastBuilt = "";
  let settleUntil = 0;
  let readyUntil = 0;
  let settleTimer = null;
  let toastTimer = null;
  let noteFor = null;
  let focusBeforeDialog = null;
  // The decisions this page recorded, newest last ({commentId, decisionId, at}): `u` or the
  // toast's Undo takes back the newest while the server still allows it (UNDO_MS).
  const undoStack = [];
  const chosen = new Set(); // cards selected for a bulk decision (x, shift+j / shift+k)
  let pickedReason = null; // the reason code for the next reject (keys 1-9)
  let authorFor = null; // the author whose panel is open
  const historyRows = new Map(); // comment id -> its audit rows, while its History is open

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // A button with a visible key hint (hidden from the accessible name, which is the label).
  function button(label, action, key) {
    const b = el("button", "action-" + action);
    b.type = "button";
    b.dataset.action = action;
    b.appendChild(el("span", "label-text", label));
    if (key) {
      b.setAttribute("aria-keyshortcuts", key);
      const hint = el("kbd", "key-hint", key);
      hint.setAttribute("aria-hidden", "true");
      b.appendChild(hint);
    }
    return b;
  }

  function setLabel(b, label) {
    b.querySelector(".label-text").textContent = label;
  }

  async function api(method, path, body) {
    const options = {
      method,
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf, Accept: "application/json" },
    };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(path, options);
    if (response.status === 401) {
      window.location.assign("/moderate");
      throw new Error("signed out");
    }
    let data = null;
    if (response.status !== 204) {
      try { data = await response.json(); } catch (e) { data = null; }
    }
    return { ok: response.ok, status: response.status, data };
  }

  function reviewPath(id, what) {
    return "/moderate/reviews/" + encodeURIComponent(id) + "/" + what;
  }

  // A toast: a message and, optionally, buttons ({label, key, run}) that act on it.
  function toast(message, actions) {
    const nodes = [el("span", "toast-message", message)];
    for (const a of actions || []) {
      const b = button(a.label, "toast", a.key);
      b.addEventListener("click", () => { toastEl.hidden = true; a.run(); });
      nodes.push(b);
    }
    toastEl.replaceChildren(...nodes);
    toastEl.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { toastEl.hidden = true; }, TOAST_MS);
  }

  function excerpt(text, n) {
    const flat = text.replace(/\s+/g, " ").trim();
    return flat.length > n ? flat.slice(0, n - 1) + "…" : flat;
  }

  // "Approving: c-1 by Ann — “…”" at the key press, "Approved: …" once the server agrees.
  function decisionToast(item, action, done) {
    const verb = done ? (action === "approve" ? "Approved" : "Rejected") : (action === "approve" ? "Approving" : "Rejecting");
    const actions = done && UNDO_MS > 0 ? [{ label: "Undo", key: "u", run: undo }] : [];
    toast(verb + ": " + item.comment_id + " by " + (item.author.name || item.author.id) +
      " — “" + excerpt(item.text, 60) + "”", actions);
  }

  // --- time --------------------------------------------------------------------------------

  function ago(iso) {
    const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
    if (seconds < 60) return "just now";
    const minutes = Math.floor(seconds / 60);
    if (minutes < 60) return minutes + " min ago";
    const hours = Math.floor(minutes / 60);
    if (hours < 48) return hours + " h ago";
    const days = Math.floor(hours / 24);
    if (days < 60) return days + " days ago";
    return new Date(iso).toLocaleDateString();
  }

  function timeEl(iso, className) {
    const t = el("time", className, ago(iso));
    t.dateTime = iso;
    t.title = new Date(iso).toLocaleString();
    return t;
  }

  function refreshAges() {
    for (const t of queueEl.querySelectorAll("time.age")) t.textContent = ago(t.dateTime);
  }

  // --- evidence highlighting ---------------------------------------------------------------

  // Python counts code points; JS strings count UTF-16 units. Map one to the other.
  function codePointToUnit(text) {
    const map = [];
    let unit = 0;
    for (const ch of text) {
      map.push(unit);
      unit += ch.length;
    }
    map.push(unit);
    return map;
  }

  function evidenceRanges(item) {
    const text = item.text;
    const ranges = [];
    const tox = item.evidence && item.evidence.toxicity;
    if (tox && Array.isArray(tox.spans)) {
      const map = codePointToUnit(text);
      for (const span of tox.spans) {
        const start = map[Math.min(span.start, map.length - 1)];
        const end = map[Math.min(span.end, map.length - 1)];
        if (end > start) {
          ranges.push({ start, end, kind: "tox", title: "toxicity +" + Number(span.weight).toFixed(2) });
        }
      }
    }
    const spam = item.evidence && item.evidence.spam;
    const needles = [];
    if (spam) {
      for (const key of ["links", "emails", "phones"]) {
        if (Array.isArray(spam[key])) needles.push(...spam[key].map((v) => [String(v), key]));
      }
    }
    for (const [needle, key] of needles) {
      if (!needle) continue;
      let from = 0;
      for (;;) {
        const at = text.indexOf(needle, from);
        if (at < 0) break;
        ranges.push({ start: at, end: at + needle.length, kind: "spam", title: "spam: " + key });
        from = at + needle.length;
      }
    }
    ranges.sort((a, b) => a.start - b.start || b.end - a.end);
    const merged = [];
    for (const r of ranges) {
      const last = merged[merged.length - 1];
      if (last && r.start < last.end) continue; // overlapping: keep the first
      merged.push(r);
    }
    return merged;
  }

  // The whole text, always (a long one is clamped by CSS, so the highlighting stays exact).
  function highlightedText(item) {
    const container = el("p", "comment-text");
    const text = item.text;
    let pos = 0;
    for (const r of evidenceRanges(item)) {
      if (r.start > pos) container.appendChild(document.createTextNode(text.slice(pos, r.start)));
      const mark = el("mark", "evidence " + r.kind, text.slice(r.start, r.end));
      mark.title = r.title;
      container.appendChild(mark);
      pos = r.end;
    }
    if (pos < text.length) container.appendChild(document.createTextNode(text.slice(pos)));
    return container;
  }

  // --- cards -------------------------------------------------------------------------------

  function scoreBars(scores) {
    const list = el("ul", "scores");
    for (const name of Object.keys(scores).sort()) {
      const value = Number(scores[name]);
      const row = el("li", "score");
      row.appendChild(el("span", "score-name", name));
      const bar = el("span", "bar");
      bar.setAttribute("aria-hidden", "true"); // the value is written beside it
      // Relevance is good when high; the other scores are bad when high.
      const concern = name === "relevance" ? 1 - value : value;
      const fill = el("span", "fill " + (concern >= 0.7 ? "high" : concern >= 0.4 ? "mid" : "low"));
      fill.style.width = Math.round(Math.max(0, Math.min(1, value)) * 100) + "%";
      bar.appendChild(fill);
      row.appendChild(bar);
      row.appendChild(el("span", "score-value", value.toFixed(2)));
      list.appendChild(row);
    }
    return list;
  }

  function safeUrl(raw) {
    if (!raw) return null;
    try {
      const url = new URL(raw);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  function metaItem(label, value, className) {
    const span = el("span", "meta-item");
    span.appendChild(document.createTextNode(label + " "));
    span.appendChild(el("code", className, value));
    return span;
  }

  function claimText(claim) {
    if (!claim) return null;
    const until = new Date(claim.expires_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    const who = claim.moderator === me ? "you" : claim.moderator;
    return "claimed by " + who + " until " + until;
  }

  // "Reported 3× (2 abusive, 1 spam)", in the reasons' order; and how many came after the
  // latest moderator decision when not all of them did.
  const REPORT_REASONS = ["abusive", "off_topic", "spam", "other"];
  function reportsText(reports) {
    if (!reports || !reports.total) return null;
    const parts = REPORT_REASONS.filter((r) => reports.by_reason[r])
      .map((r) => reports.by_reason[r] + " " + r.replace("_", "-"));
    let text = "Reported " + reports.total + "× (" + parts.join(", ") + ")";
    if (reports.unreviewed !== reports.total) {
      text += " · " + reports.unreviewed + " since the last moderator decision";
    }
    return text;
  }

  function card(item, index, total) {
    const id = item.comment_id;
    const authorName = item.author.name || item.author.id;
    const title = item.article.title || item.article.id;
    const li = el("li", "card" + (chosen.has(id) ? " chosen" : ""));
    li.dataset.id = id;
    li.tabIndex = -1;
    li.setAttribute("aria-label", "Comment " + (index + 1) + " of " + total + ", by " + authorName + ", on " + title);

    const head = el("div", "card-head");
    head.appendChild(el("span", "position", String(index + 1)));
    const url = safeUrl(item.article.url);
    if (url) {
      const link = el("a", "article-title", title);
      link.href = url;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      head.appendChild(link);
    } else {
      head.appendChild(el("span", "article-title", title));
    }
    if (item.priority) head.appendChild(el("span", "chip priority", "priority " + item.priority));
    for (const label of item.labels || []) head.appendChild(el("span", "chip label", label));
    if (item.claim) head.appendChild(el("span", "chip claim" + (item.claim.moderator === me ? " mine" : ""), claimText(item.claim)));
    li.appendChild(head);

    const meta = el("p", "meta");
    meta.appendChild(metaItem("comment", id, "comment-id"));
    meta.appendChild(metaItem("author", item.author.id, "author-id"));
    meta.appendChild(metaItem("article", item.article.id, "article-id"));
    const posted = el("span", "meta-item");
    posted.appendChild(document.createTextNode("posted "));
    posted.appendChild(timeEl(item.created_at, "age"));
    meta.appendChild(posted);
    li.appendChild(meta);

    const reported = reportsText(item.reports);
    if (reported) li.appendChild(el("p", "reports", reported));

    if (item.parent) {
      const parent = el("blockquote", "parent");
      parent.appendChild(el("span", "muted", "In reply to " + (item.parent.author.name || item.parent.author.id) + ": "));
      parent.appendChild(document.createTextNode(item.parent.text));
      li.appendChild(parent);
    }

    const text = highlightedText(item);
    text.id = "comment-text-" + index;
    if (!expanded.has(id)) text.classList.add("clamped");
    li.appendChild(text);
    const more = el("div", "more");
    more.hidden = true; // shown by measureClamps() when the text is longer than the clamp
    const toggle = button(expanded.has(id) ? "Show less" : "Show all", "expand", "e");
    toggle.setAttribute("aria-controls", text.id);
    toggle.setAttribute("aria-expanded", expanded.has(id) ? "true" : "false");
    more.appendChild(toggle);
    more.appendChild(el("span", "more-info muted"));
    li.appendChild(more);

    const tox = item.evidence && item.evidence.toxicity;
    if (tox && tox.spans_pending) {
      // The words behind the toxicity score are found after the decision (workers' explain queue).
      li.appendChild(el("p", "spans-pending", "Highlighting the words behind the toxicity score…"));
    }

    const body = el("div", "card-body");
    const why = el("div", "why");
    why.appendChild(el("h3", null, "Rules that fired"));
    const reasons = el("ul", "reasons");
    for (const r of item.reasons || []) {
      const row = el("li");
      row.appendChild(el("code", null, r.rule));
      row.appendChild(document.createTextNode(" " + r.message));
      reasons.appendChild(row);
    }
    why.appendChild(reasons);
    why.appendChild(scoreBars(item.scores || {}));
    body.appendChild(why);

    const author = el("div", "author");
    const h = item.author.history;
    author.appendChild(el("h3", null, authorName));
    author.appendChild(
      el("p", "history", h.approved + " approved · " + h.rejected + " rejected · " + h.escalated + " escalated")
    );
    if (h.recent && h.recent.length) {
      const recent = el("ul", "recent");
      for (const c of h.recent) {
        const row = el("li", "recent-" + c.status);
        row.appendChild(el("span", "chip status-tag", c.status));
        row.appendChild(document.createTextNode(" " + c.text));
        recent.appendChild(row);
      }
      author.appendChild(recent);
    }
    body.appendChild(author);
    li.appendChild(body);

    const note = notes.get(id);
    if (note) li.appendChild(el("p", "note", "Note: " + note));

    const history = el("ol", "audit");
    history.id = "history-" + index;
    history.setAttribute("aria-label", "History of comment " + id);
    history.hidden = !historyRows.has(id);
    if (historyRows.has(id)) fillAudit(history, historyRows.get(id));
    li.appendChild(history);

    const actions = el("div", "actions");
    actions.setAttribute("role", "group");
    actions.setAttribute("aria-label", "Decide comment " + (index + 1));
    actions.appendChild(button("Approve", "approve", "a"));
    actions.appendChild(button("Reject", "reject", "r"));
    actions.appendChild(button(note ? "Edit note" : "Note", "note", "n"));
    const claimButton = button("Claim", "claim", "c");
    if (item.claim && item.claim.moderator === me) {
      setLabel(claimButton, "Release");
    } else if (item.claim) {
      setLabel(claimButton, "Claimed by " + item.claim.moderator);
      claimButton.disabled = true;
    }
    actions.appendChild(claimButton);
    const pick = button(chosen.has(id) ? "Selected" : "Select", "select", "x");
    pick.setAttribute("aria-pressed", chosen.has(id) ? "true" : "false");
    actions.appendChild(pick);
    actions.appendChild(button("Reject all pending from this author", "reject-author"));
    actions.appendChild(button("Author", "author", "p"));
    const historyButton = button("History", "history");
    historyButton.setAttribute("aria-expanded", historyRows.has(id) ? "true" : "false");
    historyButton.setAttribute("aria-controls", history.id);
    actions.appendChild(historyButton);
    if (pickedReason) actions.appendChild(el("span", "chip reason-chip", "reject reason: " + pickedReason));
    actions.appendChild(el("span", "settle-cue"));
    li.appendChild(actions);
    return li;
  }

  function visibleItems() {
    return items.filter((i) => !decided.has(i.comment_id));
  }

  function findItem(id) {
    return items.find((i) => i.comment_id === id) || null;
  }

  function cardNode(id) {
    for (const node of queueEl.children) if (node.dataset.id === id) return node;
    return null;
  }

  // Long texts: the toggle shows where the text is longer than CLAMP_LINES, with the number
  // of highlighted passages the clamp hides.
  function measureClamps() {
    for (const node of queueEl.children) {
      const text = node.querySelector(".comment-text");
      const more = node.querySelector(".more");
      const lines = parseFloat(getComputedStyle(text).lineHeight) * CLAMP_LINES;
      const open = expanded.has(node.dataset.id);
      text.classList.toggle("clamped", !open); // measured as it is shown (after a resize too)
      const long = text.scrollHeight > lines + 2;
      more.hidden = !long;
      if (!long) { text.classList.remove("clamped"); continue; }
      const info = more.querySelector(".more-info");
      const chars = [...findItem(node.dataset.id).text].length.toLocaleString() + " characters";
      if (text.classList.contains("clamped")) {
        const hidden = [...text.querySelectorAll("mark")].filter((m) => m.offsetTop >= text.clientHeight).length;
        info.textContent = chars + (hidden ? " · " + hidden + " highlighted " + (hidden === 1 ? "passage" : "passages") + " below" : "");
      } else {
        info.textContent = chars;
      }
    }
  }

  // The selected card: the only one in the Tab order (its buttons follow it), aria-current.
  function applySelection() {
    for (const node of queueEl.children) {
      const on = node.dataset.id === selectedId;
      node.classList.toggle("selected", on);
      if (on) node.setAttribute("aria-current", "true");
      else node.removeAttribute("aria-current");
      node.tabIndex = on ? 0 : -1;
      for (const b of node.querySelectorAll("button")) b.tabIndex = on ? 0 : -1;
    }
  }

  function settling() {
    return Date.now() < settleUntil;
  }

  function applySettle() {
    const now = Date.now();
    const busy = now < settleUntil;
    for (const node of queueEl.children) {
      const on = node.dataset.id === selectedId;
      for (const b of node.querySelectorAll(".action-approve, .action-reject")) b.disabled = busy;
      node.classList.toggle("settling", busy && on);
      const cue = node.querySelector(".settle-cue");
      cue.textContent = on && busy ? "Wait a moment…" : on && now < readyUntil ? "Ready" : "";
      cue.classList.toggle("ready", on && !busy && now < readyUntil);
    }
    clearTimeout(settleTimer);
    if (busy) settleTimer = setTimeout(applySettle, settleUntil - now + 10);
    else if (now < readyUntil) settleTimer = setTimeout(applySettle, readyUntil - now + 10);
  }

  function startSettle() {
    settleUntil = Date.now() + SETTLE_MS;
    readyUntil = settleUntil + READY_CUE_MS;
  }

  // The selected card fully in view below the sticky header and above the toast (a tall
  // one: its top).
  function reveal(node) {
    const top = headerEl.getBoundingClientRect().bottom + 8;
    const floor = toastEl.hidden ? window.innerHeight : Math.min(window.innerHeight, toastEl.getBoundingClientRect().top);
    const bottom = floor - 8;
    const r = node.getBoundingClientRect();
    if (r.top < top || r.height > bottom - top) window.scrollBy(0, r.top - top);
    else if (r.bottom > bottom) window.scrollBy(0, r.bottom - bottom);
  }

  function focusSelected() {
    const node = selectedId && cardNode(selectedId);
    if (node) node.focus({ preventScroll: true });
  }

  function focusInQueue() {
    const active = document.activeElement;
    return !active || active === document.body || queueEl.contains(active);
  }

  // Builds the cards again when what they show changed; keeps the focus where it was.
  function render(force) {
    const list = visibleItems();
    if (selectedId === null || !list.some((i) => i.comment_id === selectedId)) {
      const had = selectedId !== null;
      selectedId = list.length ? list[0].comment_id : null;
      // The card under the moderator's hands changed without them: it settles too.
      if (had && selectedId !== null && !settling()) { startSettle(); }
    }
    // Everything a card shows (spans found after the decision, the author's history, claims).
    for (const id of [...chosen]) if (!list.some((i) => i.comment_id === id)) chosen.delete(id);
    updateBulkBar();
    const signature = JSON.stringify([me, list, [...notes], [...expanded], [...chosen], pickedReason, [...historyRows]]);
    if (force || signature !== lastBuilt) {
      lastBuilt = signature;
      const active = document.activeElement;
      const inQueue = queueEl.contains(active);
      const activeCard = inQueue && active.closest(".card") ? active.closest(".card").dataset.id : null;
      const activeAction = inQueue && active.dataset ? active.dataset.action : undefined;
      queueEl.replaceChildren(...list.map((item, i) => card(item, i, list.length)));
      emptyEl.hidden = list.length > 0;
      measureClamps();
      applySelection();
      if (inQueue) {
        const node = (activeCard && cardNode(activeCard)) || cardNode(selectedId);
        const again = node && activeAction && node.querySelector('[data-action="' + activeAction + '"]');
        if (again && !again.disabled) again.focus({ preventScroll: true });
        else if (node) node.focus({ preventScroll: true });
      }
    } else {
      applySelection();
    }
    applySettle();
  }

  function select(id, { focus = true, scroll = true } = {}) {
    selectedId = id;
    applySelection();
    applySettle();
    const node = cardNode(id);
    if (!node) return;
    if (focus && !node.contains(document.activeElement)) node.focus({ preventScroll: true });
    if (scroll) reveal(node);
  }

  function move(step) {
    const list = visibleItems();
    if (!list.length) return;
    let index = list.findIndex((i) => i.comment_id === selectedId);
    index = Math.max(0, Math.min(list.length - 1, index + step));
    const id = list[index].comment_id;
    selectedId = id;
    applySelection();
    applySettle();
    const node = cardNode(id);
    if (node) { node.focus({ preventScroll: true }); reveal(node); }
  }

  // --- actions -----------------------------------------------------------------------------

  async function decide(action, id) {
    if (settling()) return; // the card just arrived under the moderator's hands
    const list = visibleItems();
    const index = list.findIndex((i) => i.comment_id === id);
    if (index < 0) return;
    const item = list[index];
    const next = list[index + 1] || list[index - 1];
    const refocus = focusInQueue();
    decided.add(item.comment_id);
    if (selectedId === item.comment_id) selectedId = next ? next.comment_id : null;
    startSettle();
    decisionToast(item, action, false);
    render(true);
    if (refocus) focusSelected();
    const selectedNode = selectedId && cardNode(selectedId);
    if (selectedNode) reveal(selectedNode);
    const body = { action };
    const note = notes.get(item.comment_id);
    if (note) body.note = note;
    if (action === "reject" && pickedReason) { body.reason_code = pickedReason; setReason(null); }
    try {
      const result = await api("POST", reviewPath(item.comment_id, "decision"), body);
      if (result.ok) {
        notes.delete(item.comment_id);
        claimedHere.delete(item.comment_id);
        undoStack.push({ commentId: item.comment_id, decisionId: result.data.id, at: Date.now() });
        decisionToast(item, action, true);
      } else if (result.data && result.data.error === "already_decided") {
        toast("Already decided by " + ((result.data.decision && result.data.decision.actor) || "someone else"));
      } else if (result.data && result.data.error === "claimed") {
        toast("Claimed by " + result.data.claim.moderator + ": left for them");
      } else {
        decided.delete(item.comment_id);
        toast((result.data && result.data.message) || "Could not record the decision");
        render(true);
      }
    } catch (e) {
      decided.delete(item.comment_id);
      toast("Network error: the decision was not recorded");
      render(true);
    }
    refresh();
  }

  // Several comments at once: the selection (`ids`) or an author's open reviews (`authorId`).
  async function decideMany(action, ids, authorId) {
    if (settling()) return;
    const body = authorId ? { action, author_id: authorId } : { action, comment_ids: ids };
    if (action === "reject" && pickedReason) { body.reason_code = pickedReason; setReason(null); }
    for (const id of ids) decided.add(id);
    chosen.clear();
    startSettle();
    render(true);
    if (focusInQueue()) focusSelected();
    try {
      const result = await api("POST", "/moderate/reviews/bulk-decision", body);
      if (result.ok) {
        const done = result.data.results.filter((r) => r.outcome === "decided");
        for (const r of result.data.results) if (r.outcome === "not_found") decided.delete(r.comment_id);
        const group = done.map((r) => ({ commentId: r.comment_id, decisionId: r.decision.id, at: Date.now() }));
        undoStack.push(...group);
        const others = result.data.results.length - done.length;
        const verb = action === "approve" ? "Approved " : "Rejected ";
        toast(verb + done.length + (done.length === 1 ? " comment" : " comments") +
          (others ? " (" + others + " taken or decided by others)" : ""),
          group.length && UNDO_MS > 0 ? [{ label: "Undo all", run: () => undoGroup(group) }] : []);
      } else {
        for (const id of ids) decided.delete(id);
        toast((result.data && result.data.message) || "Could not record the decisions");
      }
    } catch (e) {
      for (const id of ids) decided.delete(id);
      toast("Network error: the decisions were not recorded");
    }
    render(true);
    refresh();
  }

  async function undoOne(entry) {
    const i = undoStack.indexOf(entry);
    if (i >= 0) undoStack.splice(i, 1);
    const result = await api("POST", "/moderate/decisions/" + encodeURIComponent(entry.decisionId) + "/undo");
    if (result.ok) decided.delete(entry.commentId);
    return result;
  }

  // `u` and the toast's Undo: the newest decision still inside the window.
  async function undo() {
    while (undoStack.length && Date.now() - undoStack[undoStack.length - 1].at > UNDO_MS) undoStack.pop();
    const entry = undoStack[undoStack.length - 1];
    if (!entry) { toast("Nothing to undo (a decision can be undone for " + UNDO_MS / 1000 + " s)"); return; }
    try {
      const result = await undoOne(entry);
      toast(result.ok ? "Undone: " + entry.commentId + " is back in the queue" :
        (result.data && result.data.message) || "Could not undo it");
    } catch (e) {
      toast("Network error: nothing was undone");
    }
    refresh();
  }

  async function undoGroup(group) {
    let undone = 0;
    for (const entry of group) {
      try { if ((await undoOne(entry)).ok) undone += 1; } catch (e) { /* counted below */ }
    }
    toast("Undone: " + undone + " of " + group.length + " back in the queue");
    refresh();
  }

  function toggleChosen(id) {
    if (!id || decided.has(id)) return;
    if (chosen.has(id)) chosen.delete(id);
    else chosen.add(id);
    render(false);
  }

  // shift+j / shift+k: the selection grows from the current card to the next / previous one.
  function extend(step) {
    if (selectedId) chosen.add(selectedId);
    move(step);
    if (selectedId) chosen.add(selectedId);
    render(false);
  }

  function updateBulkBar() {
    const ids = visibleItems().filter((i) => chosen.has(i.comment_id));
    bulkBar.hidden = ids.length === 0;
    document.getElementById("bulk-count").textContent = ids.length + " selected:";
  }

  function chosenIds() {
    return visibleItems().filter((i) => chosen.has(i.comment_id)).map((i) => i.comment_id);
  }

  function rejectAuthor(id) {
    const item = findItem(id);
    if (!item) return;
    const ids = visibleItems().filter((i) => i.author.id === item.author.id).map((i) => i.comment_id);
    decideMany("reject", ids, item.author.id);
  }

  function setReason(code) {
    pickedReason = code;
    for (const b of reasonButtons) b.setAttribute("aria-pressed", b.dataset.reason === code ? "true" : "false");
    reasonPicked.textContent = code ? "next reject: " + code : "";
    render(false);
  }

  // Claiming is explicit: it holds a comment (others skip it) while the moderator looks
  // into it; the same control gives it back.
  async function toggleClaim(id) {
    const item = findItem(id);
    if (!item || decided.has(id)) return;
    try {
      if (item.claim && item.claim.moderator === me) {
        const result = await api("POST", reviewPath(id, "release"));
        if (result.ok) {
          claimedHere.delete(id);
          item.claim = null;
          toast("Released " + id + ": back in the queue for everyone");
        } else {
          toast((result.data && result.data.message) || "Could not release it");
        }
      } else {
        const result = await api("POST", reviewPath(id, "claim"));
        if (result.ok) {
          claimedHere.add(id);
          item.claim = { moderator: result.data.moderator, claimed_at: result.data.claimed_at, expires_at: result.data.expires_at };
          toast("Claimed " + id + ": others skip it until you release it or decide (or " + claimText(item.claim).replace(/^claimed by you /, "") + ")");
        } else if (result.status === 409 && result.data && result.data.claim) {
          toast("Claimed by " + result.data.claim.moderator + " already");
        } else {
          toast((result.data && result.data.message) || "Could not claim it");
        }
      }
    } catch (e) {
      toast("Network error: nothing changed");
    }
    render(false);
    refresh();
  }

  function toggleExpanded(id) {
    const node = id && cardNode(id);
    if (!node || node.querySelector(".more").hidden) return;
    if (expanded.has(id)) expanded.delete(id);
    else expanded.add(id);
    render(false);
    const again = cardNode(id);
    if (again && !expanded.has(id)) reveal(again); // shrinking may leave it above the view
  }

  function openNote(id) {
    if (!id) return;
    noteFor = id;
    focusBeforeDialog = document.activeElement;
    noteText.value = notes.get(id) || "";
    noteDialog.hidden = false;
    noteText.focus();
  }

  function closeNote(save) {
    if (save && noteFor) {
      const value = noteText.value.trim();
      if (value) notes.set(noteFor, value);
      else notes.delete(noteFor);
    }
    noteDialog.hidden = true;
    noteText.blur();
    render(false);
    restoreFocus();
  }

  function restoreFocus() {
    const before = focusBeforeDialog;
    focusBeforeDialog = null;
    if (before && before.isConnected && before !== document.body) before.focus({ preventScroll: true });
    else focusSelected();
  }

  function setHelp(show) {
    if (show === !helpEl.hidden) return;
    if (show) {
      focusBeforeDialog = document.activeElement;
      helpEl.hidden = false;
      document.getElementById("help-close").focus();
    } else {
      helpEl.hidden = true;
      restoreFocus();
    }
  }

  // --- history (the audit log) -----------------------------------------------------------------

  function describeAudit(entry) {
    let text = entry.actor + " · " + entry.action;
    if (entry.from_state || entry.to_state) text += " · " + (entry.from_state || "–") + " → " + (entry.to_state || "–");
    const d = entry.detail || {};
    const extra = [];
    for (const key of ["action", "reason_code", "reason", "until", "note"]) if (d[key]) extra.push(key + ": " + d[key]);
    if (Array.isArray(d.rejected) && d.rejected.length) extra.push("rejected: " + d.rejected.join(", "));
    if (extra.length) text += " (" + extra.join("; ") + ")";
    return text;
  }

  function fillAudit(list, entries) {
    const rows = entries.map((entry) => {
      const row = el("li", "audit-entry");
      row.appendChild(timeEl(entry.at, "age"));
      row.appendChild(document.createTextNode(" " + describeAudit(entry)));
      return row;
    });
    if (!rows.length) rows.push(el("li", "muted", "Nothing in the audit log yet."));
    list.replaceChildren(...rows);
  }

  async function fetchAudit(params) {
    const result = await api("GET", "/moderate/audit.json?" + new URLSearchParams(params).toString());
    if (!result.ok) throw new Error((result.data && result.data.message) || "Could not load the history");
    return result.data.items;
  }

  async function toggleHistory(id) {
    if (!id) return;
    if (historyRows.has(id)) {
      historyRows.delete(id);
      render(false);
      return;
    }
    try {
      historyRows.set(id, await fetchAudit({ comment_id: id }));
    } catch (e) {
      toast(e.message);
    }
    render(false);
  }

  // --- the author panel ------------------------------------------------------------------------

  function authorStatusText(a) {
    let text = "Status: " + a.status;
    if (a.status === "suspended" && a.suspended_until) text += " until " + new Date(a.suspended_until).toLocaleString();
    const set = a.status_set;
    if (set && set.set_by) {
      text += " — set by " + set.set_by;
      if (set.reason_code) text += " (" + set.reason_code + ")";
      if (set.reason) text += ": " + set.reason;
    }
    return text;
  }

  function showAuthor(a) {
    document.getElementById("author-status").textContent = authorStatusText(a);
    const c = a.counts;
    document.getElementById("author-counts").textContent = c.total + " comments: " + c.approved + " approved · " +
      c.rejected + " rejected · " + c.escalated + " escalated · " + c.pending + " pending";
    const comments = a.comments.map((cm) => {
      const row = el("li", "recent-" + cm.status);
      row.appendChild(el("span", "chip status-tag", cm.status));
      let text = " " + cm.id + ": “" + excerpt(cm.text, 120) + "”";
      const d = cm.decision;
      if (d) text += " — " + d.action + " by " + (d.actor || d.decided_by) + (d.reason_code ? " (" + d.reason_code + ")" : "");
      row.appendChild(document.createTextNode(text));
      return row;
    });
    document.getElementById("author-comments").replaceChildren(...comments);
    const noteRows = a.notes.map((n) => {
      const row = el("li", "author-note");
      row.appendChild(el("strong", null, n.moderator));
      row.appendChild(document.createTextNode(" "));
      row.appendChild(timeEl(n.created_at, "age"));
      row.appendChild(document.createTextNode(": " + n.text));
      return row;
    });
    if (!noteRows.length) noteRows.push(el("li", "muted", "No notes yet."));
    document.getElementById("author-notes").replaceChildren(...noteRows);
    authorStatusSelect.value = a.status;
    statusControls();
  }

  async function loadAuthor() {
    if (!authorFor) return;
    const id = authorFor;
    const result = await api("GET", "/moderate/authors/" + encodeURIComponent(id) + ".json");
    if (id !== authorFor) return;
    if (!result.ok) { authorMessage.textContent = (result.data && result.data.message) || "Could not load the author"; return; }
    showAuthor(result.data);
    if (!authorHistoryList.hidden) await loadAuthorHistory();
  }

  async function loadAuthorHistory() {
    try {
      fillAudit(authorHistoryList, await fetchAudit({ author_id: authorFor }));
    } catch (e) {
      authorMessage.textContent = e.message;
    }
  }

  function statusControls() {
    const status = authorStatusSelect.value;
    authorUntilField.hidden = status !== "suspended";
    const stops = status === "suspended" || status === "banned";
    authorRejectPending.disabled = !stops;
    if (!stops) authorRejectPending.checked = false;
  }

  function openAuthor(id) {
    const item = findItem(id);
    if (!item) return;
    authorFor = item.author.id;
    focusBeforeDialog = document.activeElement;
    document.getElementById("author-title").textContent = "Author " + item.author.id +
      (item.author.name ? " (" + item.author.name + ")" : "");
    for (const id of ["author-status", "author-counts"]) document.getElementById(id).textContent = "Loading…";
    document.getElementById("author-comments").replaceChildren();
    document.getElementById("author-notes").replaceChildren();
    document.getElementById("author-note-text").value = "";
    document.getElementById("author-reason").value = "";
    document.getElementById("author-reason-code").value = "";
    document.getElementById("author-until").value = "";
    authorRejectPending.checked = false;
    authorMessage.textContent = "";
    authorHistoryList.hidden = true;
    authorHistoryButton.setAttribute("aria-expanded", "false");
    authorDialog.hidden = false;
    const title = document.getElementById("author-title");
    title.tabIndex = -1;
    title.focus();
    loadAuthor();
  }

  function closeAuthor() {
    authorDialog.hidden = true;
    authorFor = null;
    restoreFocus();
  }

  async function setAuthorStatus() {
    if (!authorFor) return;
    const body = { status: authorStatusSelect.value };
    const code = document.getElementById("author-reason-code").value;
    const reason = document.getElementById("author-reason").value.trim();
    if (code) body.reason_code = code;
    if (reason) body.reason = reason;
    if (body.status === "suspended") {
      const until = document.getElementById("author-until").value;
      if (!until) { authorMessage.textContent = "Give the time the suspension ends."; return; }
      body.until = new Date(until).toISOString(); // the browser's local time, sent as UTC
    }
    if (authorRejectPending.checked) body.reject_pending = true;
    try {
      const result = await api("POST", "/moderate/authors/" + encodeURIComponent(authorFor) + "/status", body);
      if (result.ok) {
        const r = result.data;
        for (const id of r.rejected) decided.add(id);
        authorMessage.textContent = (r.changed ? "Status set: " + r.status : "Already " + r.status + ": nothing changed") +
          (r.rejected.length ? " · rejected " + r.rejected.length + " pending (" + r.rejected.join(", ") + ")" : "");
        render(false);
        await loadAuthor();
        refresh();
      } else {
        authorMessage.textContent = (result.data && result.data.message) || "Could not set the status";
      }
    } catch (e) {
      authorMessage.textContent = "Network error: nothing changed";
    }
  }

  async function addAuthorNote() {
    const textEl = document.getElementById("author-note-text");
    const text = textEl.value.trim();
    if (!authorFor || !text) return;
    try {
      const result = await api("POST", "/moderate/authors/" + encodeURIComponent(authorFor) + "/notes", { text });
      if (result.ok) {
        textEl.value = "";
        authorMessage.textContent = "Note added";
        await loadAuthor();
      } else {
        authorMessage.textContent = (result.data && result.data.message) || "Could not add the note";
      }
    } catch (e) {
      authorMessage.textContent = "Network error: the note was not added";
    }
  }

  async function toggleAuthorHistory() {
    const show = authorHistoryList.hidden;
    authorHistoryButton.setAttribute("aria-expanded", show ? "true" : "false");
    if (show) await loadAuthorHistory();
    authorHistoryList.hidden = !show;
  }

  // --- my recent decisions ----------------------------------------------------------------------

  function decisionRow(d) {
    const row = el("li", "decision-row");
    row.appendChild(timeEl(d.decided_at, "age"));
    row.appendChild(el("strong", null, d.action === "approve" ? "approved" : "rejected"));
    row.appendChild(el("code", null, d.comment_id));
    if (d.reason_code) row.appendChild(el("span", "chip", d.reason_code));
    row.appendChild(el("span", null, "“" + excerpt(d.text, 80) + "”"));
    const url = safeUrl(d.article_url);
    const title = d.article_title || d.article_id;
    if (url) {
      const link = el("a", null, title);
      link.href = url;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      row.appendChild(link);
    } else {
      row.appendChild(el("span", "muted", title));
    }
    if (d.undoable) {
      const b = el("button", "undo-decision", "Undo");
      b.type = "button";
      b.setAttribute("aria-label", "Undo the decision on " + d.comment_id);
      b.addEventListener("click", () => undoListed(d));
      row.appendChild(b);
    }
    return row;
  }

  async function loadMyDecisions() {
    try {
      const result = await api("GET", "/moderate/decisions.json");
      if (!result.ok) { decisionsMessage.textContent = (result.data && result.data.message) || "Could not load your decisions"; return; }
      const rows = result.data.items.map(decisionRow);
      if (!rows.length) rows.push(el("li", "muted", "No decisions yet."));
      decisionsList.replaceChildren(...rows);
    } catch (e) {
      decisionsMessage.textContent = "Network error: could not load your decisions";
    }
  }

  async function undoListed(d) {
    try {
      const result = await api("POST", "/moderate/decisions/" + encodeURIComponent(d.decision_id) + "/undo");
      if (result.ok) {
        decided.delete(d.comment_id);
        const i = undoStack.findIndex((e) => e.decisionId === d.decision_id);
        if (i >= 0) undoStack.splice(i, 1);
        decisionsMessage.textContent = "Undone: " + d.comment_id + " is back in the queue";
      } else {
        decisionsMessage.textContent = (result.data && result.data.message) || "Could not undo it";
      }
    } catch (e) {
      decisionsMessage.textContent = "Network error: nothing was undone";
    }
    await loadMyDecisions();
    document.getElementById("decisions-title").focus();
    refresh();
  }

  function openMyDecisions() {
    focusBeforeDialog = document.activeElement;
    decisionsMessage.textContent = "";
    decisionsList.replaceChildren(el("li", "muted", "Loading…"));
    decisionsDialog.hidden = false;
    document.getElementById("decisions-title").focus();
    loadMyDecisions();
  }

  function closeMyDecisions() {
    decisionsDialog.hidden = true;
    restoreFocus();
  }

  function act(action, id) {
    switch (action) {
      case "approve": decide("approve", id); break;
      case "reject": decide("reject", id); break;
      case "note": openNote(id); break;
      case "claim": toggleClaim(id); break;
      case "expand": toggleExpanded(id); break;
      case "select": toggleChosen(id); break;
      case "reject-author": rejectAuthor(id); break;
      case "author": openAuthor(id); break;
      case "history": toggleHistory(id); break;
      default: break;
    }
  }

  // --- polling -----------------------------------------------------------------------------

  function updateFilter(articles) {
    const chosen = filterEl.value;
    const options = [el("option", null, "All articles")];
    options[0].value = "";
    for (const a of articles) {
      const option = el("option", null, (a.title || a.id) + " (" + a.escalated + ")");
      option.value = a.id;
      options.push(option);
    }
    if (chosen && !articles.some((a) => a.id === chosen)) {
      const option = el("option", null, chosen);
      option.value = chosen;
      options.push(option);
    }
    filterEl.replaceChildren(...options);
    filterEl.value = chosen;
  }

  let live = false; // the event stream (/moderate/events) is open
  let lastPoll = 0;
  let inFlight = false;
  let again = false; // asked again while a poll was out (a new search or sort): once more after it
  async function refresh() {
    if (inFlight) { again = true; return; }
    inFlight = true;
    again = false;
    lastPoll = Date.now();
    try {
      const params = new URLSearchParams();
      if (filterEl.value) params.set("article_id", filterEl.value);
      if (sortEl.value !== "priority") params.set("sort", sortEl.value);
      const search = searchEl.value.trim();
      if (search) params.set("q", search);
      const result = await api("GET", "/moderate/queue.json?" + params.toString());
      if (!result.ok) {
        statusEl.textContent = (result.data && result.data.message) || "Could not load the queue";
        return;
      }
      const data = result.data;
      items = data.items;
      me = data.moderator;
      const present = new Set(items.map((i) => i.comment_id));
      for (const id of [...decided]) if (!present.has(id)) decided.delete(id);
      for (const id of [...claimedHere]) {
        // Still held unless the queue shows it without this moderator's claim (expired, or
        // taken over); one filtered out of view is still given back when the page goes.
        const item = findItem(id);
        if (item && (!item.claim || item.claim.moderator !== me)) claimedHere.delete(id);
      }
      document.getElementById("count-open").textContent = data.counters.open;
      document.getElementById("count-claimed").textContent = data.counters.claimed;
      document.getElementById("count-decided").textContent = data.counters.decided_today;
      updateFilter(data.articles);
      if (statusEl.textContent) statusEl.textContent = "";
      updatedEl.textContent = "Updated " + new Date().toLocaleTimeString();
      document.body.dataset.loaded = "1";
      render(false);
      refreshAges();
    } catch (e) {
      statusEl.textContent = "Offline? Retrying…";
    } finally {
      inFlight = false;
      if (again) refresh();
    }
  }

  // --- events ------------------------------------------------------------------------------

  const REPEATABLE = new Set(["j", "k", "J", "K"]); // holding j or k moves on; no other key repeats

  document.addEventListener("keydown", (event) => {
    if (!authorDialog.hidden) {
      if (event.key === "Escape") { event.preventDefault(); closeAuthor(); }
      return;
    }
    if (!decisionsDialog.hidden) {
      if (event.key === "Escape") { event.preventDefault(); closeMyDecisions(); }
      return;
    }
    if (!noteDialog.hidden) {
      if (event.key === "Escape") { event.preventDefault(); closeNote(false); }
      else if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); closeNote(true); }
      return;
    }
    const target = event.target;
    if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT" || target.isContentEditable)) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const keys = ["j", "k", "J", "K", "a", "r", "n", "c", "e", "x", "u", "p", "/", "1", "2", "3", "4", "5", "6", "7", "8", "9", "?", "Escape"];
    if (!keys.includes(event.key)) return;
    if (event.repeat && !REPEATABLE.has(event.key)) { event.preventDefault(); return; }
    if (!helpEl.hidden && event.key !== "?" && event.key !== "Escape") return; // help first
    switch (event.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "J": extend(1); break;
      case "K": extend(-1); break;
      case "a": if (chosen.size) decideMany("approve", chosenIds()); else decide("approve", selectedId); break;
      case "r": if (chosen.size) decideMany("reject", chosenIds()); else decide("reject", selectedId); break;
      case "x": toggleChosen(selectedId); break;
      case "u": undo(); break;
      case "n": event.preventDefault(); openNote(selectedId); break;
      case "p": event.preventDefault(); openAuthor(selectedId); break;
      case "/": event.preventDefault(); searchEl.focus(); searchEl.select(); break;
      case "c": toggleClaim(selectedId); break;
      case "e": toggleExpanded(selectedId); break;
      case "?": setHelp(helpEl.hidden); break;
      case "Escape": setHelp(false); break;
      default: {
        const b = reasonButtons.find((r) => r.getAttribute("aria-keyshortcuts") === event.key);
        if (b) setReason(pickedReason === b.dataset.reason ? null : b.dataset.reason);
        return;
      }
    }
  });

  queueEl.addEventListener("click", (event) => {
    const node = event.target.closest(".card");
    if (!node) return;
    const id = node.dataset.id;
    const control = event.target.closest("button[data-action]");
    if (id !== selectedId) select(id, { focus: !control, scroll: false });
    if (control && !control.disabled) act(control.dataset.action, id);
  });
  // Tabbing or a screen reader moving into a card selects it.
  queueEl.addEventListener("focusin", (event) => {
    const node = event.target.closest(".card");
    if (node && node.dataset.id !== selectedId) select(node.dataset.id, { focus: false, scroll: false });
  });

  document.getElementById("prev-button").addEventListener("click", () => move(-1));
  document.getElementById("next-button").addEventListener("click", () => move(1));
  document.getElementById("help-button").addEventListener("click", () => setHelp(helpEl.hidden));
  document.getElementById("help-close").addEventListener("click", (event) => { event.stopPropagation(); setHelp(false); });
  helpEl.addEventListener("click", (event) => { if (event.target === helpEl) setHelp(false); });
  document.getElementById("extend-up").addEventListener("click", () => extend(-1));
  document.getElementById("extend-down").addEventListener("click", () => extend(1));
  document.getElementById("undo-button").addEventListener("click", () => undo());
  document.getElementById("bulk-approve").addEventListener("click", () => decideMany("approve", chosenIds()));
  document.getElementById("bulk-reject").addEventListener("click", () => decideMany("reject", chosenIds()));
  document.getElementById("bulk-clear").addEventListener("click", () => { chosen.clear(); render(false); });
  for (const b of reasonButtons) {
    b.addEventListener("click", () => setReason(pickedReason === b.dataset.reason ? null : b.dataset.reason));
  }
  document.getElementById("author-close").addEventListener("click", () => closeAuthor());
  authorDialog.addEventListener("click", (event) => { if (event.target === authorDialog) closeAuthor(); });
  authorStatusSelect.addEventListener("change", statusControls);
  document.getElementById("author-status-set").addEventListener("click", () => setAuthorStatus());
  document.getElementById("author-note-add").addEventListener("click", () => addAuthorNote());
  authorHistoryButton.addEventListener("click", () => toggleAuthorHistory());
  document.getElementById("note-save").addEventListener("click", () => closeNote(true));
  document.getElementById("note-cancel").addEventListener("click", () => closeNote(false));
  filterEl.addEventListener("change", () => { filterEl.blur(); refresh(); });
  sortEl.addEventListener("change", () => { sortEl.blur(); refresh(); });
  let searchTimer = null;
  searchEl.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(refresh, 300);
  });
  // Enter searches at once and gives the keys back to the queue; Esc clears the search.
  searchEl.addEventListener("keydown", (event) => {
    if (event.key === "Enter") { event.preventDefault(); clearTimeout(searchTimer); searchEl.blur(); refresh(); focusSelected(); }
    else if (event.key === "Escape" && searchEl.value) { event.preventDefault(); searchEl.value = ""; refresh(); }
  });
  document.getElementById("my-decisions-button").addEventListener("click", () => openMyDecisions());
  document.getElementById("decisions-close").addEventListener("click", () => closeMyDecisions());
  decisionsDialog.addEventListener("click", (event) => { if (event.target === decisionsDialog) closeMyDecisions(); });

  // Give back what this page claimed when it goes away (a closed tab holds nothing).
  window.addEventListener("pagehide", () => {
    for (const id of claimedHere) {
      fetch(reviewPath(id, "release"), {
        method: "POST",
        keepalive: true,
        credentials: "same-origin",
        headers: { "X-CSRF-Token": csrf },
      }).catch(() => {});
    }
    claimedHere.clear();
  });

  // The header's height, for scroll-padding (the browser's own scrolling to a focused
  // element keeps it below the header too).
  function measureHeader() {
    document.documentElement.style.setProperty("--header-h", headerEl.offsetHeight + "px");
  }
  measureHeader();
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => { measureHeader(); measureClamps(); }, 150);
  });

  // New escalations and others' decisions as they happen; polling stays the fallback
  // (every POLL_MS while the stream is down, every LIVE_POLL_MS while it is up).
  function listen() {
    if (!window.EventSource) return;
    const source = new EventSource("/moderate/events");
    source.addEventListener("ready", () => { live = true; document.body.dataset.live = "1"; });
    source.addEventListener("error", () => { live = false; delete document.body.dataset.live; });
    for (const kind of ["escalated", "decided", "changed"]) source.addEventListener(kind, () => refresh());
  }

  refresh();
  listen();
  setInterval(() => { if (!live || Date.now() - lastPoll >= LIVE_POLL_MS) refresh(); }, POLL_MS);
})();
