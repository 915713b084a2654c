"""N21 (sequence -> one class): sentiment, intent, moderation; one module per stage."""
