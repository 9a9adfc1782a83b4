"""Forge and incident webhooks: each provider's own payloads, checked and turned into events.

One module per provider, each with two pure functions: ``verify(headers, body, secret, now)``
checks the signature (or token) on the raw body before anything parses it and returns the
delivery id, raising :class:`~.core.BadSignature`; ``map(payload, delivery, context)`` turns the
parsed payload into the events it means (:class:`~.core.Outcome`). query/api/routes/webhooks.py
runs them and publishes the events; docs/webhooks.md gives every mapping decision.
"""
