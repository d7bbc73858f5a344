"""The `serve` host: HTTP ingest, durable state, timers and delivery around the same engine."""
