// Package upstreamapi is written as a program importing upstream's Go API would be (module
// github.com/dask/dask-kubernetes/v2025), with only the module path changed: every exported
// identifier and field of upstream's types, its group package, clientset, fake clientset,
// informers and listers is used here by its upstream name. It compiling is the promise that an
// importer switches by changing the module path; it running checks the fake clientset and a
// lister on those objects. No cluster is needed.
package upstreamapi

import (
	"context"
	"testing"
	"time"

	"github.com/dask/dask-kubernetes/go/v2026/dask_kubernetes/operator/go_client/pkg/apis"
	daskv1 "github.com/dask/dask-kubernetes/go/v2026/dask_kubernetes/operator/go_client/pkg/apis/kubernetes.dask.org/v1"
	"github.com/dask/dask-kubernetes/go/v2026/dask_kubernetes/operator/go_client/pkg/client/clientset/versioned"
	"github.com/dask/dask-kubernetes/go/v2026/dask_kubernetes/operator/go_client/pkg/client/clientset/versioned/fake"
	"github.com/dask/dask-kubernetes/go/v2026/dask_kubernetes/operator/go_client/pkg/client/informers/externalversions"
	listersv1 "github.com/dask/dask-kubernetes/go/v2026/dask_kubernetes/operator/go_client/pkg/client/listers/kubernetes.dask.org/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// Upstream's group package is named daskoperator; imported without an alias it must be too.
var _ = daskoperator.GroupName

// Each upstream function and variable, with the signature upstream gives it.
var (
	_ func(*rest.Config) (*versioned.Clientset, error)    = versioned.NewForConfig
	_ func(...runtime.Object) *fake.Clientset             = fake.NewSimpleClientset
	_ func(cache.Indexer) listersv1.DaskClusterLister     = listersv1.NewDaskClusterLister
	_ func(cache.Indexer) listersv1.DaskWorkerGroupLister = listersv1.NewDaskWorkerGroupLister
	_ func(cache.Indexer) listersv1.DaskJobLister         = listersv1.NewDaskJobLister
	_ func(cache.Indexer) listersv1.DaskAutoscalerLister  = listersv1.NewDaskAutoscalerLister
	_ func(*runtime.Scheme) error                         = daskv1.AddToScheme
	_ runtime.SchemeBuilder                               = daskv1.SchemeBuilder
	_ string                                              = daskv1.Version
)

// upstreamCluster fills every field upstream's DaskCluster has, by upstream's names.
func upstreamCluster(name string) daskv1.DaskCluster {
	pod := corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "ghcr.io/dask/dask"}}}
	return daskv1.DaskCluster{
		TypeMeta:   metav1.TypeMeta{Kind: "DaskCluster", APIVersion: daskv1.SchemeGroupVersion.String()},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
		Spec: daskv1.DaskClusterSpec{
			Worker:    daskv1.WorkerSpec{Replicas: 2, Spec: pod},
			Scheduler: daskv1.SchedulerSpec{Spec: pod, Service: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP}},
		},
		Status: daskv1.DaskClusterStatus{Phase: daskv1.DaskClusterCreated},
	}
}

func TestUpstreamsAPICompilesAndRunsUnchanged(t *testing.T) {
	cluster := upstreamCluster("c1")
	cluster.Status.Phase = daskv1.DaskClusterRunning
	now := metav1.NewTime(time.Unix(1_700_000_000, 0))
	job := daskv1.DaskJob{
		ObjectMeta: metav1.ObjectMeta{Name: "j1", Namespace: "ns"},
		Spec: daskv1.DaskJobSpec{
			Job:     daskv1.JobSpec{Spec: cluster.Spec.Worker.Spec},
			Cluster: upstreamCluster("j1"),
		},
		Status: daskv1.DaskJobStatus{
			ClusterName: "j1", EndTime: now, JobRunnerPodName: "j1-runner",
			JobStatus: daskv1.DaskJobSuccessful, StartTime: now,
		},
	}
	for _, stage := range []daskv1.JobStatus{
		daskv1.DaskJobCreated, daskv1.DaskJobClusterCreated, daskv1.DaskJobRunning,
		daskv1.DaskJobSuccessful, daskv1.DaskJobFailed,
	} {
		if stage == "" {
			t.Error("an upstream JobStatus constant is empty")
		}
	}
	group := daskv1.DaskWorkerGroup{
		ObjectMeta: metav1.ObjectMeta{Name: "g1", Namespace: "ns"},
		Spec:       daskv1.DaskWorkerGroupSpec{Cluster: "c1", Worker: cluster.Spec.Worker},
	}
	autoscaler := daskv1.DaskAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "a1", Namespace: "ns"},
		Spec:       daskv1.DaskAutoscalerSpec{Cluster: "c1", Minimum: 1, Maximum: 5},
	}
	lists := []runtime.Object{
		&daskv1.DaskClusterList{Items: []daskv1.DaskCluster{cluster}},
		&daskv1.DaskWorkerGroupList{Items: []daskv1.DaskWorkerGroup{group}},
		&daskv1.DaskJobList{Items: []daskv1.DaskJob{job}},
		&daskv1.DaskAutoscalerList{Items: []daskv1.DaskAutoscaler{autoscaler}},
	}
	for _, list := range lists {
		if list.DeepCopyObject() == nil {
			t.Errorf("%T.DeepCopyObject() is nil", list)
		}
	}
	if r := daskv1.Resource("daskjobs"); r.Group != daskoperator.GroupName || r.Resource != "daskjobs" {
		t.Errorf("Resource(daskjobs) = %v", r)
	}

	client := fake.NewSimpleClientset(&cluster, &group, &autoscaler)
	ctx := context.Background()
	created, err := client.KubernetesV1().DaskJobs("ns").Create(ctx, &job, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created.Status.JobStatus != daskv1.DaskJobSuccessful || !created.Status.EndTime.Equal(&now) {
		t.Errorf("the fake clientset returned %+v", created.Status)
	}
	got, err := client.KubernetesV1().DaskClusters("ns").Get(ctx, "c1", metav1.GetOptions{})
	if err != nil || got.Spec.Worker.Replicas != 2 || got.Status.Phase != daskv1.DaskClusterRunning {
		t.Fatalf("DaskClusters.Get: %+v, %v", got, err)
	}

	factory := externalversions.NewSharedInformerFactory(client, 0)
	lister := factory.Kubernetes().V1().DaskWorkerGroups().Lister()
	stop := make(chan struct{})
	defer close(stop)
	factory.Start(stop)
	factory.WaitForCacheSync(stop)
	listed, err := lister.DaskWorkerGroups("ns").Get("g1")
	if err != nil || listed.Spec.Cluster != "c1" || listed.Spec.Worker.Replicas != 2 {
		t.Fatalf("the lister has %+v, %v", listed, err)
	}
}
