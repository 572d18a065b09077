#!/usr/bin/env bash
# Regenerates the deepcopy functions, typed clientset, listers and informers of this module with
# k8s.io/code-generator at the version go.mod pins (the `tool` directives), the same generators
# kube_codegen.sh runs, without its `go install`. Run from anywhere; writes into this module only.
# The test suite (tests/goclient/test_go_module.py) re-runs it on a copy and fails on any difference.
set -euo pipefail

module_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "${module_dir}"

module="$(go list -m)"
base="dask_kubernetes/operator/go_client/pkg"
apis="${module}/${base}/apis/kubernetes.dask.org/v1"
client_dir="${base}/client"
header="hack/boilerplate.go.txt"

rm -rf "${client_dir}" "${base}/apis/kubernetes.dask.org/v1/zz_generated.deepcopy.go"

go tool deepcopy-gen --go-header-file "${header}" --output-file zz_generated.deepcopy.go "${apis}"
go tool client-gen --go-header-file "${header}" \
    --output-dir "${client_dir}/clientset" --output-pkg "${module}/${client_dir}/clientset" \
    --clientset-name versioned --input-base "" --input "${apis}"
go tool lister-gen --go-header-file "${header}" \
    --output-dir "${client_dir}/listers" --output-pkg "${module}/${client_dir}/listers" "${apis}"
go tool informer-gen --go-header-file "${header}" \
    --output-dir "${client_dir}/informers" --output-pkg "${module}/${client_dir}/informers" \
    --versioned-clientset-package "${module}/${client_dir}/clientset/versioned" \
    --listers-package "${module}/${client_dir}/listers" "${apis}"
