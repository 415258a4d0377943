"""Benchmarks (``make bench``). They print ratios measured in one run, never absolute
promises: machines are noisy, ratios of things measured side by side are not."""
