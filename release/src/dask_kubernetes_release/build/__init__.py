"""`build`, `rebuild`, `chart`: reproducible sdist, wheel and Helm chart from the commit."""
