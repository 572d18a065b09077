// Package v1 holds the Go types of the kubernetes.dask.org/v1 custom resources.
//
// The types mirror src/dask_kubernetes/operator/crds/*.yaml of this repository field for field;
// schema_drift_test.go fails when they disagree, so they cannot drift from the CRDs.
//
// +k8s:deepcopy-gen=package
// +groupName=kubernetes.dask.org
package v1
