// The review queue. Plain JS, no build step. Comment text is only ever set with
// textContent (never innerHTML), so whatever a reader writes stays text.
"use strict";

(function () {
  const POLL_MS = 3000;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const queueEl = document.getElementById("queue");
  const emptyEl = document.getElementById("empty");
  const statusEl = document.getElementById("status-line");
  const filterEl = document.getElementById("article-filter");
  const helpEl = document.getElementById("help");
  const noteDialog = document.getElementById("note-dialog");
  const noteText = document.getElementById("note-text");
  const toastEl = document.getElementById("toast");

  let items = [];
  let me = null;
  let selectedId = null;
  const decided = new Set(); // removed at once, kept out until the server agrees
  const notes = new Map();
  let lastRendered = "";
  let toastTimer = null;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
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

  function toast(message) {
    toastEl.textContent = message;
    toastEl.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { toastEl.hidden = true; }, 4000);
  }

  // --- evidence highlighting ---------------------------------------------------------

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

  // --- cards ---------------------------------------------------------------------------

  function scoreBars(scores) {
    const list = el("ul", "scores");
    for (const name of Object.keys(scores).sort()) {
      const value = Number(scores[name]);
      const row = el("li", "score");
      row.appendChild(el("span", "score-name", name));
      const bar = el("span", "bar");
      // Relevance is good when high; the other scores are bad when high.
      const concern = name === "relevance" ? 1 - value : value;
      const fill = el("span", "fill" + (concern >= 0.7 ? " high" : concern >= 0.4 ? " mid" : ""));
      fill.style.width = Math.round(Math.max(0, Math.min(1, value)) * 100) + "%";
      bar.appendChild(fill);
      row.appendChild(bar);
      row.appendChild(el("span", "score-value", value.toFixed(2)));
      list.appendChild(row);
    }
    return list;
  }

  function card(item, index) {
    const li = el("li", "card");
    li.dataset.id = item.comment_id;
    li.tabIndex = -1;
    if (item.comment_id === selectedId) li.classList.add("selected");

    const head = el("div", "card-head");
    head.appendChild(el("span", "position", String(index + 1)));
    head.appendChild(el("span", "article-title", item.article.title || item.article.id));
    if (item.priority) head.appendChild(el("span", "priority", "priority " + item.priority));
    for (const label of item.labels || []) head.appendChild(el("span", "label", label));
    if (item.claim) {
      const who = item.claim.moderator === me ? "you" : item.claim.moderator;
      head.appendChild(el("span", "claim", "claimed by " + who));
    }
    li.appendChild(head);

    if (item.parent) {
      const parent = el("blockquote", "parent");
      parent.appendChild(el("span", "muted", "In reply to " + (item.parent.author.name || item.parent.author.id) + ": "));
      parent.appendChild(document.createTextNode(item.parent.text));
      li.appendChild(parent);
    }

    li.appendChild(highlightedText(item));
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
    author.appendChild(el("h3", null, item.author.name || item.author.id));
    author.appendChild(
      el("p", "history", h.approved + " approved · " + h.rejected + " rejected · " + h.escalated + " escalated")
    );
    if (h.recent && h.recent.length) {
      const recent = el("ul", "recent");
      for (const c of h.recent) {
        const row = el("li", "recent-" + c.status);
        row.appendChild(el("span", "status-tag", c.status));
        row.appendChild(document.createTextNode(" " + c.text));
        recent.appendChild(row);
      }
      author.appendChild(recent);
    }
    body.appendChild(author);
    li.appendChild(body);

    const note = notes.get(item.comment_id);
    if (note) li.appendChild(el("p", "note", "Note: " + note));
    li.addEventListener("click", () => select(item.comment_id));
    return li;
  }

  function visibleItems() {
    return items.filter((i) => !decided.has(i.comment_id));
  }

  function render(force) {
    const list = visibleItems();
    const signature = JSON.stringify([selectedId, list.map((i) => [i.comment_id, i.claim && i.claim.moderator]), [...notes]]);
    if (!force && signature === lastRendered) return;
    lastRendered = signature;
    if (selectedId === null || !list.some((i) => i.comment_id === selectedId)) {
      selectedId = list.length ? list[0].comment_id : null;
    }
    const nodes = list.map(card);
    queueEl.replaceChildren(...nodes);
    emptyEl.hidden = list.length > 0;
    const current = queueEl.querySelector(".card.selected");
    if (current) current.scrollIntoView({ block: "nearest" });
  }

  // The selected card is claimed once the moderator stays on it, and renewed while they
  // do, so others skip it; moving on gives it back.
  const CLAIM_AFTER_MS = 600;
  const RENEW_MS = 60000;
  let claimTimer = null;
  let claimedId = null;
  let claimedAt = 0;

  function scheduleClaim() {
    clearTimeout(claimTimer);
    if (claimedId && claimedId !== selectedId && !decided.has(claimedId)) {
      const old = claimedId;
      api("POST", "/moderate/reviews/" + encodeURIComponent(old) + "/release").catch(() => {});
    }
    if (claimedId !== selectedId) claimedId = null;
    if (!selectedId) return;
    claimTimer = setTimeout(claimSelected, CLAIM_AFTER_MS);
  }

  async function claimSelected() {
    const id = selectedId;
    if (!id || decided.has(id)) return;
    if (claimedId === id && Date.now() - claimedAt < RENEW_MS) return;
    try {
      const result = await api("POST", "/moderate/reviews/" + encodeURIComponent(id) + "/claim");
      if (result.ok) {
        claimedId = id;
        claimedAt = Date.now();
      } else if (result.status === 409 && result.data && result.data.claim) {
        toast("Claimed by " + result.data.claim.moderator + "; skipping it");
        refresh();
      }
    } catch (e) { /* the next poll shows the state */ }
  }

  function select(id) {
    selectedId = id;
    render(true);
    scheduleClaim();
  }

  function move(step) {
    const list = visibleItems();
    if (!list.length) return;
    let index = list.findIndex((i) => i.comment_id === selectedId);
    index = Math.max(0, Math.min(list.length - 1, index + step));
    select(list[index].comment_id);
  }

  async function decide(action) {
    const list = visibleItems();
    const index = list.findIndex((i) => i.comment_id === selectedId);
    if (index < 0) return;
    const item = list[index];
    const next = list[index + 1] || list[index - 1];
    decided.add(item.comment_id);
    selectedId = next ? next.comment_id : null;
    render(true);
    const body = { action };
    const note = notes.get(item.comment_id);
    if (note) body.note = note;
    try {
      const result = await api("POST", "/moderate/reviews/" + encodeURIComponent(item.comment_id) + "/decision", body);
      if (result.ok) {
        notes.delete(item.comment_id);
        toast((action === "approve" ? "Approved" : "Rejected") + ": " + item.comment_id);
      } else if (result.data && result.data.error === "already_decided") {
        toast("Already decided by " + ((result.data.decision && result.data.decision.actor) || "someone else"));
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

  function openNote() {
    if (!selectedId) return;
    noteText.value = notes.get(selectedId) || "";
    noteDialog.hidden = false;
    noteText.focus();
  }

  function closeNote(save) {
    if (save && selectedId) {
      const value = noteText.value.trim();
      if (value) notes.set(selectedId, value);
      else notes.delete(selectedId);
    }
    noteDialog.hidden = true;
    noteText.blur();
    render(true);
  }

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

  let inFlight = false;
  async function refresh() {
    if (inFlight) return;
    inFlight = true;
    try {
      const params = new URLSearchParams();
      if (filterEl.value) params.set("article_id", filterEl.value);
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
      document.getElementById("count-open").textContent = data.counters.open;
      document.getElementById("count-claimed").textContent = data.counters.claimed;
      document.getElementById("count-decided").textContent = data.counters.decided_today;
      updateFilter(data.articles);
      statusEl.textContent = "Updated " + new Date().toLocaleTimeString();
      document.body.dataset.loaded = "1";
      render(false);
      if (selectedId && claimedId !== selectedId) scheduleClaim();
      else if (selectedId) claimSelected();
    } catch (e) {
      statusEl.textContent = "Offline? Retrying…";
    } finally {
      inFlight = false;
    }
  }

  document.addEventListener("keydown", (event) => {
    if (!noteDialog.hidden) {
      if (event.key === "Escape") { event.preventDefault(); closeNote(false); }
      else if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); closeNote(true); }
      return;
    }
    const target = event.target;
    if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT")) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    switch (event.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "a": decide("approve"); break;
      case "r": decide("reject"); break;
      case "n": event.preventDefault(); openNote(); break;
      case "?": helpEl.hidden = !helpEl.hidden; break;
      case "Escape": helpEl.hidden = true; break;
      default: return;
    }
  });
  document.getElementById("help-button").addEventListener("click", () => { helpEl.hidden = !helpEl.hidden; });
  helpEl.addEventListener("click", () => { helpEl.hidden = true; });
  filterEl.addEventListener("change", () => { filterEl.blur(); refresh(); });

  refresh();
  setInterval(refresh, POLL_MS);
})();
