// Package apis holds the API group name shared by every version of the Dask resources.
package apis

// GroupName is the API group of DaskCluster, DaskWorkerGroup, DaskJob and DaskAutoscaler.
const GroupName = "kubernetes.dask.org"
