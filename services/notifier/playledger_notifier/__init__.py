"""``playledger notifier``: delivers job webhooks (``options.callback_url``), signed per Standard
Webhooks, from a durable consumer on the events stream; every attempt is a delivery event."""
