"""The worker: relays committed events from the outbox and delivers webhooks (``kith worker``, or
in-process under ``kith serve``)."""
