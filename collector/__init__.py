"""OTLP trace ingest: decoding, receivers, batching and the durable write path."""
