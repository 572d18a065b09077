"""`lock`: the dependency closure with hashes (requirements, pylock, SBOM)."""
