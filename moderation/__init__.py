"""Self-hosted comment moderation."""

__version__ = "0.1.0"
