"""The Perspective API stand-in: Google's ``commentanalyzer`` v1alpha1 wire protocol over this
service's scorers (docs/perspective.md).

Pure parts: ``wire`` (the messages), ``errors`` (Google's envelope, Perspective's messages),
``attributes`` (the attribute table, data in ``attributes.yaml``), ``offsets`` (HTML to text,
UTF-16 offsets), ``languages`` (detection), ``request`` (the checks, in Perspective's terms)
and ``response``. With I/O: ``analyzer`` (the models, batched scoring passes), ``quota``
(Redis counters) and ``store`` (the database).
"""
