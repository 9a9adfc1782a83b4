"""The event contract: CloudEvents envelopes, typed event data, Avro schemas and the codec."""
