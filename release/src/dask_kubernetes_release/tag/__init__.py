"""`tag`: check everything, then create the CalVer release tag."""
