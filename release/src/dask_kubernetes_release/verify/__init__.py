"""`verify`: offline verification of attestations against a publisher policy."""
