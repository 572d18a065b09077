#!/bin/sh
# Install the one wheel in DIR by the sha256 that DIR/SHA256SUMS lists for it (pip
# --require-hashes), so the image holds exactly the wheel the release tested and attested.
# The Dockerfile runs it; tests/workflows/test_operator_image.py attacks it with a changed wheel.
#
#   install-wheel.sh DIR     (python on PATH; pip options such as PIP_TARGET apply)
set -eu
dir=$(cd "$1" && pwd)
set -- "$dir"/*.whl
if [ "$#" -ne 1 ] || [ ! -f "$1" ]; then
    echo "install-wheel: expected exactly one wheel in $dir" >&2
    exit 1
fi
wheel=$(basename "$1")
sum=$(awk -v f="$wheel" '$2 == f { print $1 }' "$dir/SHA256SUMS")
case "$sum" in
    [0-9a-f]*) ;;
    *) echo "install-wheel: $wheel is not listed in $dir/SHA256SUMS" >&2; exit 1 ;;
esac
printf 'dask-kubernetes @ file://%s --hash=sha256:%s\n' "$1" "$sum" > "$dir/wheel-requirements.txt"
python -m pip install --require-hashes --no-deps --no-index -r "$dir/wheel-requirements.txt"
