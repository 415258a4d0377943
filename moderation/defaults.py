"""Tunables, each with the reason for its value. Settings (``moderation.settings``) reads
overrides from the environment; everything else imports these names."""

DEFAULT_HOST = "127.0.0.1"
"""Bind address of ``moderation serve``: loopback until an operator opens it up."""

DEFAULT_PORT = 8000

DEFAULT_WORKERS = 1
"""Worker processes started by ``moderation serve``; each loads the models once (~0.5 GB)."""

DEFAULT_WEBHOOK_WORKERS = 1
"""Webhook worker processes started by ``moderation serve``: they serve only the webhook
queue and load no models, so a slow publisher never delays scoring."""

DEFAULT_QUEUE = "moderation"
"""RQ queue of the live lane: single comments and small batches are scored from here first."""

DEFAULT_BULK_QUEUE_SUFFIX = "-bulk"
"""The bulk lane is the live queue's name plus this (``moderation-bulk``): large backfills
wait there, so a comment posted during an import is scored before the rest of the import."""

DEFAULT_LIVE_BATCH_LIMIT = 64
"""Requests of at most this many comments (2 scoring jobs) go to the live lane; larger ones
go to the bulk lane."""

DEFAULT_WEBHOOK_QUEUE = "webhooks"
"""RQ queue for deliveries to the publisher, so a slow publisher never delays scoring."""

DEFAULT_EXPLAIN_QUEUE = "explain"
"""RQ queue of ``explain_comments`` jobs: the evidence spans (a re-score per word) computed
after the decision, served after the live lane and webhooks, so no decision waits for them."""

DEFAULT_TORCH_THREADS = 0
"""Torch threads per worker; 0: the machine's cores divided by ``WORKERS`` (at least one),
so workers on one machine do not fight over the same cores."""

DEFAULT_MAX_COMMENT_CHARS = 10_000

DEFAULT_MAX_ID_CHARS = 200

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
"""Largest request body for one comment or article (1 MiB)."""

DEFAULT_MAX_BATCH_BODY_BYTES = 16 * 1024 * 1024
"""Largest request body for ``POST /v1/comments/batch`` (16 MiB)."""

DEFAULT_MAX_BATCH_ITEMS = 1000

DEFAULT_MAX_WAIT_SECONDS = 30
"""Upper bound of ``GET /v1/comments/{id}?wait=S``."""

DEFAULT_JOB_TIMEOUT = 300
"""Seconds one scoring job may run before RQ kills it; a batch of 64 on a CPU takes ~2 s."""

DEFAULT_SCORING_BATCH_SIZE = 32
"""Comments per scoring job when comments arrive in a batch, and per model forward pass."""

DEFAULT_SWEEP_AFTER_SECONDS = 5.0
"""A pending comment with no live job this old is enqueued again by the sweeper."""

DEFAULT_SWEEP_INTERVAL_SECONDS = 2.0

DEFAULT_WORKER_HEARTBEAT_TTL_SECONDS = 15.0
"""A worker's heartbeat lives this long and is refreshed every third of it. When it expires
the worker counts as gone: ``/readyz`` stops counting it and the next sweep puts the jobs it
had started back in their queue, so a killed worker's comments wait this long plus one sweep
interval, not RQ's job timeout."""

DEFAULT_WORKER_LOAD_RETRY_SECONDS = 30.0
"""A worker whose scorers or rules failed to load publishes the error, takes no jobs and
tries again after this long (a model download that comes back, a file that is fixed)."""

DEFAULT_MAX_SCORING_ATTEMPTS = 5
"""After this many failed scoring attempts a comment is escalated to a person."""

DEFAULT_RULES_RELOAD_INTERVAL_SECONDS = 1.0
"""How often workers look at the rules file's modification time (reload within 5 s)."""

DEFAULT_REVIEW_LEASE_SECONDS = 300.0
"""A moderator's claim on an escalated comment (5 min); renewed by claiming again."""

DEFAULT_UNDO_SECONDS = 10.0
"""How long a moderator may undo a decision (``u`` on the page, ``POST .../undo``): its
``comment.decided`` webhook is held this long (plus ``UNDO_GRACE_SECONDS``) before it is sent,
so an undone decision never reaches the publisher. 0: no undo, webhooks go out at once."""

UNDO_GRACE_SECONDS = 2.0
"""A held webhook waits this long after the undo window closes: an undo that was accepted
inside the window (its compare-and-set ran) commits before the sender can read the delivery."""

BULK_DECISION_LIMIT = 100
"""Most comments one bulk decision takes (the page's selection, an author's open reviews)."""

DEFAULT_WEBHOOK_RETRY_INTERVALS = "10,30,60,300,600,900,1800,3600"
"""Seconds before each retry of a failed webhook delivery: 9 attempts over about 2 hours."""

DEFAULT_WEBHOOK_TIMEOUT_SECONDS = 10.0
"""One delivery attempt gives up after this long (connect and response)."""

DEFAULT_WEBHOOK_SWEEP_AFTER_SECONDS = 30.0
"""A pending delivery this far past its due time with no live job is enqueued again."""

DEFAULT_REPORT_HIDE_THRESHOLD = 0
"""Readers' reports at which a published (approved) comment is hidden pending review; 0:
never. Off by default: with a number, that many readers (who need only be distinct reader
ids to the publisher) take a comment down before a person has looked, which is what a
brigade wants; a publisher that knows its readers and its moderators' hours chooses the
number. Counted as the rules count them: since the latest moderator decision."""

DEFAULT_REPORT_NOTE_CHARS = 2000
"""Longest note a reader may give with a report."""

DEFAULT_REPORTS_SWEEP_AFTER_SECONDS = 30.0
"""A report whose comment was not reconsidered this long after it arrived, and whose job
is not live (Redis lost it), is queued again by the sweeper."""

HIDDEN_REVIEW_PRIORITY = 50
"""Review priority of a comment hidden by reports when the rules would not have escalated
it (the same as ``rules/default.yaml``'s ``reported`` rule): it is off the site until a
person looks."""


# --- offline tools (``moderation eval|train``): read by the parser and the tools alike ---

DEFAULT_SPLIT_SEED = 20240601
"""Seed of every fixed split: the development data's train/test parts, the off-topic halves."""

DEFAULT_OFFTOPIC_SEED = 7
"""Seed choosing the unrelated article each off-topic example is placed under."""

DEFAULT_TEXT_COLUMNS = ("text", "comment_text", "comment", "tweet", "content", "message")
"""A labelled file's text column, when not named: the first of these the file has."""

DEFAULT_LABEL_COLUMNS = ("label", "class", "toxic", "toxicity", "spam")
"""A labelled file's label column, when not named: the first of these the file has."""

OFFTOPIC_PARTS = ("all", "fit", "test")
"""Halves of the off-topic threads: ``fit`` fitted the relevance calibration, ``test`` did not."""

DEFAULT_TEST_FRACTION = 0.2
"""Share of each development set held out as its test split by ``train --prepare-splits``."""

DEFAULT_SOURCE_TEST_CAP = 3000
"""Comments ``eval --shared`` scores per source: a fixed sample of its held-out fifth when
that is larger (about a minute per source on two cores)."""

DEFAULT_TUNED_LAYERS = 2
"""How many of MiniLM's top layers the offline toxicity model fine-tunes (the rest stay as
shipped and are shared with relevance in one pass). Two: +0.01 to +0.03 toxicity ROC-AUC on
every hate source's held-out fifth over one, for about a quarter of the scorers' rate
(docs/scoring.md, "One tuned layer or two")."""

DEFAULT_SOURCE_TRAIN_CAP = 20_000
"""Training comments ``train --shared`` takes per source at most (a fixed sample): all of
every source's training part (the largest, Davidson's, is 19,826). At 13,000 (Davidson
sampled down) the two-layer model's Davidson figure was 0.003 lower (0.982), Civil and the
hate sources within 0.004; at 8,000 the one-layer run's Civil and Davidson figures were 0.005
lower."""

DEFAULT_EPOCHS = 2.0
"""Passes over the fine-tuning part; chosen before looking at any test split, and kept."""

DEFAULT_SHARED_EPOCHS = 3.0
"""Passes ``train --shared`` makes over its fine-tuning part: with two tuned layers, three
passes moved each source's held-out toxicity ROC-AUC by -0.001 (Kaggle) to +0.018
(HatemojiBuild 0.655 against 0.637; TOXIGEN +0.016, Stormfront +0.012, Civil and Davidson
+0.001 or +0.002) against two. ``train FILE`` keeps ``DEFAULT_EPOCHS``."""


DEFAULT_SITE = "default"
"""The site of a single-site deployment, of keys given without a site, and of every row
written before sites existed (migration 0007)."""
