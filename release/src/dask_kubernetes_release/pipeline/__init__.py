"""`pipeline`, `test`: rehearse release.yml locally; run the test suite."""
