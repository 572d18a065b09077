"""`attest`, `keygen`: in-toto attestations, signed with Sigstore or a local key."""
