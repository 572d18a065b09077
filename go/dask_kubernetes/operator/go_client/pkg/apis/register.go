// Package daskoperator holds the API group name shared by every version of the Dask resources.
// Its name is upstream's for this directory, so an importer's `daskoperator.GroupName` compiles
// after switching the module path.
package daskoperator

// GroupName is the API group of DaskCluster, DaskWorkerGroup, DaskJob and DaskAutoscaler.
const GroupName = "kubernetes.dask.org"
