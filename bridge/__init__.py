"""Arbitrum messaging: retryable tickets (L1 to L2), outbox messages (L2 to L1), local devnet."""
