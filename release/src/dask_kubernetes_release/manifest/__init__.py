"""`manifest`, `check`: the release's file records, SHA256SUMS, and re-hashing them."""
