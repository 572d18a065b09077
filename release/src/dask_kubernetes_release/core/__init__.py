"""The small core every family shares: errors, names, digests, files, git, paths."""
