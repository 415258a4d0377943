"""``moderation demo``: a short foreign-policy story and a dozen comments of our own, sent to
a running service; prints each comment's scores, decision and reason."""

# ruff: noqa: E501 - the demo's comments read better unwrapped

from __future__ import annotations

import sys
import time
import uuid
from typing import Any

import httpx

from moderation.auth import Role, load_or_generate, spec_keys
from moderation.exceptions import ConfigurationError
from moderation.settings import get_settings

ARTICLE = {
    "title": "Coastal states sign fisheries pact after decade of disputes over patrol boats",
    "section": "world",
    "tags": ["diplomacy", "fisheries", "maritime security"],
    "body": (
        "Three coastal states signed a fisheries and maritime security pact on Tuesday, ending "
        "a decade of disputes over patrol boats, fishing quotas and the boundary of their shared "
        "exclusive economic zone. Under the agreement the navies will run joint patrols against "
        "illegal trawlers, share radar data from coastal stations, and refer quarrels over "
        "boarding rights to an arbitration panel instead of the courts. The largest of the three "
        "will also sell six second-hand patrol vessels to its neighbours at a discount, a deal "
        "its defence ministry described as a gesture of trust. Fishing communities welcomed the "
        "quota rules but warned that enforcement at sea has failed before. Opposition "
        "politicians in the smallest state said the pact hands too much control of its waters to "
        "a larger neighbour and called for a parliamentary vote before ratification. Analysts "
        "said the pact could cool a rivalry that had drawn in outside powers eager to sell "
        "warships to all three governments."
    ),
}

COMMENTS = [
    (
        "on-topic, civil",
        "Joint patrols make sense. Illegal trawlers have been emptying these waters for years, and shared radar data should help the coast guards catch them.",
    ),
    (
        "on-topic, civil",
        "I hope the arbitration panel has real power; boundary disputes like this usually drag on for decades.",
    ),
    (
        "on-topic, sharp but civil",
        "Selling old patrol boats to your neighbours and calling it trust is a stretch. This looks like a defence ministry clearing out its scrap yard.",
    ),
    (
        "on-topic, sharp but civil",
        "The opposition is right: a pact that gives a bigger neighbour control over our fishing grounds needs a vote in parliament.",
    ),
    (
        "reply, on-topic",
        "Fair point, though the quota rules alone are worth it for the fishing villages.",
    ),
    ("off-topic", "Does anyone know a good recipe for banana bread? Mine always comes out dry."),
    ("off-topic", "My team lost again last night, the coach has to go."),
    (
        "spam with a link",
        "EARN $500 A DAY FROM HOME!!! Click here http://cash-fast.example.biz/join and subscribe to my channel",
    ),
    (
        "spam with a link",
        "Cheap watches and bags, best prices, visit www.luxury-deals.example.shop now, call +1 555 0100",
    ),
    ("abusive", "Only a complete idiot would write this garbage. Shut up, you stupid moron."),
    (
        "abusive",
        "You are a disgusting piece of shit and everyone who agrees with you is a fucking retard.",
    ),
    ("borderline", "The minister who signed this is a clown and a liar."),
]


def _publisher_key() -> str:
    settings = get_settings()
    spec = settings.api_keys or load_or_generate(settings.var_dir)[0]
    keys = spec_keys(spec, Role.PUBLISHER, Role.ADMIN)
    if not keys:
        raise ConfigurationError(
            "MODERATION_API_KEYS has no publisher or admin key of the default site: pass --key"
        )
    return keys[0]


def run_demo(
    *, base_url: str | None = None, api_key: str | None = None, timeout: float = 60.0
) -> int:
    settings = get_settings()
    base_url = base_url or f"http://{settings.host}:{settings.port}"
    headers = {"Authorization": f"Bearer {api_key or _publisher_key()}"}
    run = uuid.uuid4().hex[:8]
    article_id = f"demo-{run}"
    with httpx.Client(base_url=base_url, headers=headers, timeout=35) as client:
        r = client.put(f"/v1/articles/{article_id}", json=ARTICLE)
        r.raise_for_status()
        ids = []
        for i, (kind, text) in enumerate(COMMENTS):
            cid = f"{article_id}-c{i + 1}"
            body = {
                "id": cid,
                "article_id": article_id,
                "text": text,
                "author": {"id": f"reader-{i % 7}"},
            }
            if kind.startswith("reply"):
                body["parent_id"] = f"{article_id}-c4"
            client.post("/v1/comments", json=body).raise_for_status()
            ids.append((kind, cid, text))
        deadline = time.monotonic() + timeout
        rows = []
        for kind, cid, text in ids:
            while True:
                left = max(0.0, min(30.0, deadline - time.monotonic()))
                rec = client.get(f"/v1/comments/{cid}", params={"wait": left}).json()
                if rec["decision"] or time.monotonic() >= deadline:
                    break
            rows.append((kind, text, rec))
    _print_table(rows)
    return 0 if all(rec["decision"] for _, _, rec in rows) else 1


def _print_table(rows: list[tuple[str, str, dict[str, Any]]]) -> None:
    out = sys.stdout
    out.write(
        f"{'kind':<26} {'comment':<46} {'tox':>5} {'rel':>5} {'spam':>5}  {'decision':<9} reason\n"
    )
    out.write("-" * 130 + "\n")
    for kind, text, rec in rows:
        scores = rec.get("scores", {})
        d = rec.get("decision")
        action = d["action"] if d else "(pending)"
        reason = "; ".join(r["message"] for r in d["reasons"]) if d else ""
        short = (text[:43] + "...") if len(text) > 46 else text
        tox, rel, spam = (
            f"{scores[n]:.2f}" if n in scores else "  -" for n in ("toxicity", "relevance", "spam")
        )
        out.write(f"{kind:<26} {short:<46} {tox:>5} {rel:>5} {spam:>5}  {action:<9} {reason}\n")
