"""A Sigstore instance of our own on loopback, for tests and the release rehearsal.

Why: release.yml signs keylessly (GitHub's OIDC token -> Fulcio certificate -> Rekor entry), and
that path must run before a release tag does. The servers are the real ones (Fulcio, Rekor v2,
the tesseract CT log, the timestamp authority), built from the modules pinned in tools/sigstore/;
only GitHub's OIDC issuer is ours (`issuer`), minting tokens with the claims a test chooses.
"""
