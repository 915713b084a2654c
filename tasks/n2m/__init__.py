"""N2M (sequence -> sequence): a Korean dialogue model, one module per pipeline stage plus its readers, metrics and retrieval."""
