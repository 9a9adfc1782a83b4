"""Wire formats an event can be sent in, apart from the emitter so the CLI's options do not
import kafka-python (the hook runs on every edit an AI tool makes)."""

from __future__ import annotations

FORMATS = ("avro", "json")
DEFAULT_FORMAT = "avro"
