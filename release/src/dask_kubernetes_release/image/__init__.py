"""OCI images built here from Debian's packages and the release's wheel, without a registry."""
