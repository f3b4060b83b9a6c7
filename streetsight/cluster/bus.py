"""The event bus between workers and API processes: Redis Streams with one consumer group.

Worker (event_publisher.py): ``EventPublisher`` takes the recorder's calls (it is a ``RecordSink``), writes
each event to a durable outbox first, and a drainer thread XADDs them oldest-first to ``<prefix>:<events_stream>``.
API (event_consumer.py): ``EventConsumer`` reads the stream in the group ``consumer_group``, applies each event
to the repository and acknowledges it only once stored (``ApplyOutcome`` says what became of each entry); entries a dead consumer left unacknowledged are
claimed after ``claim_idle_s``; malformed or hopeless entries go to ``<prefix>:<events_stream>:dead``.

Delivery is at least once (an XADD retried after a lost reply, an apply whose XACK was lost); events
carry ids and ``apply_event`` is idempotent, so a repeat changes nothing. Nothing trims the stream by
length: the consumer removes only entries every group has acknowledged, so an API outage loses nothing.
"""
from __future__ import annotations

from .event_consumer import ApplyOutcome, EventConsumer
from .event_publisher import EventPublisher

__all__ = ["ApplyOutcome", "EventConsumer", "EventPublisher"]
