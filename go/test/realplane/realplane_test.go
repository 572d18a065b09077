// Package realplane tests the generated clientset, informers and listers against a real
// kube-apiserver with this repository's CRDs installed and its operator reconciling.
//
// KUBECONFIG names that cluster; without it every test skips. tests/goclient/test_go_module.py
// starts the real control plane (LocalKubernetes(control_plane="real", operator=True)) and runs
// `go test ./...` here with KUBECONFIG set.
package realplane

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	daskv1 "github.com/dask/dask-kubernetes/go/v2026/dask_kubernetes/operator/go_client/pkg/apis/kubernetes.dask.org/v1"
	"github.com/dask/dask-kubernetes/go/v2026/dask_kubernetes/operator/go_client/pkg/client/clientset/versioned"
	"github.com/dask/dask-kubernetes/go/v2026/dask_kubernetes/operator/go_client/pkg/client/informers/externalversions"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"
)

const namespace = "default"

// runningTimeout bounds a DaskCluster's way to Running: real Pods start Dask on a loaded machine.
const runningTimeout = 6 * time.Minute

func clientset(t *testing.T) *versioned.Clientset {
	t.Helper()
	path := os.Getenv("KUBECONFIG")
	if path == "" {
		t.Skip("KUBECONFIG is unset: these tests need a cluster with the Dask CRDs and operator " +
			"(tests/goclient/test_go_module.py starts the real control plane for them)")
	}
	config, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatalf("kubeconfig %s: %v", path, err)
	}
	client, err := versioned.NewForConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	return client
}

func unique(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%1_000_000_000)
}

func container(name string, args ...string) corev1.Container {
	return corev1.Container{Name: name, Image: "ghcr.io/dask/dask:latest", Args: args}
}

func workerSpec(replicas int) daskv1.WorkerSpec {
	return daskv1.WorkerSpec{
		Replicas: replicas,
		Metadata: &daskv1.TemplateMetadata{Labels: map[string]string{"example.org/role": "worker"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			container("worker", "dask-worker", "--name", "$(DASK_WORKER_NAME)", "--nthreads", "1"),
		}},
	}
}

func clusterSpec(name string, workers int) daskv1.DaskClusterSpec {
	scheduler := container("scheduler", "dask-scheduler")
	scheduler.Ports = []corev1.ContainerPort{
		{Name: "tcp-comm", ContainerPort: 8786, Protocol: corev1.ProtocolTCP},
		{Name: "http-dashboard", ContainerPort: 8787, Protocol: corev1.ProtocolTCP},
	}
	scheduler.ReadinessProbe = &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: "/health", Port: intstr.FromString("http-dashboard"),
		}},
		PeriodSeconds: 2,
	}
	return daskv1.DaskClusterSpec{
		IdleTimeout: 3600,
		Scheduler: daskv1.SchedulerSpec{
			Metadata: &daskv1.TemplateMetadata{Annotations: map[string]string{"example.org/note": "go"}},
			Spec:     corev1.PodSpec{Containers: []corev1.Container{scheduler}},
			Service: corev1.ServiceSpec{
				Type: corev1.ServiceTypeClusterIP,
				Selector: map[string]string{
					"dask.org/cluster-name": name, "dask.org/component": "scheduler",
				},
				Ports: []corev1.ServicePort{
					{Name: "tcp-comm", Protocol: corev1.ProtocolTCP, Port: 8786, TargetPort: intstr.FromString("tcp-comm")},
					{Name: "http-dashboard", Protocol: corev1.ProtocolTCP, Port: 8787, TargetPort: intstr.FromString("http-dashboard")},
				},
			},
		},
		Worker: workerSpec(workers),
	}
}

// sameSpec fails the test when what the API server returned differs from what was sent.
func sameSpec(t *testing.T, what string, sent, got any) {
	t.Helper()
	if !reflect.DeepEqual(sent, got) {
		t.Errorf("%s read back differs from what was created:\nsent %+v\ngot  %+v", what, sent, got)
	}
}

// Each kind is created through the typed clientset and read back, field for field.
func TestEachKindRoundTripsThroughTheClientset(t *testing.T) {
	client := clientset(t).KubernetesV1()
	ctx := context.Background()

	t.Run("DaskAutoscaler", func(t *testing.T) {
		sent := &daskv1.DaskAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Name: unique("go-as"), Labels: map[string]string{"a": "b"}},
			Spec:       daskv1.DaskAutoscalerSpec{Cluster: "absent", Minimum: 1, Maximum: 3},
		}
		created, err := client.DaskAutoscalers(namespace).Create(ctx, sent, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer client.DaskAutoscalers(namespace).Delete(ctx, sent.Name, metav1.DeleteOptions{})
		got, err := client.DaskAutoscalers(namespace).Get(ctx, sent.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		sameSpec(t, "DaskAutoscaler spec", sent.Spec, got.Spec)
		sameSpec(t, "DaskAutoscaler labels", sent.Labels, got.Labels)
		if got.UID != created.UID || got.UID == "" {
			t.Errorf("uid %q read back, %q created", got.UID, created.UID)
		}
	})

	t.Run("DaskWorkerGroup", func(t *testing.T) {
		sent := &daskv1.DaskWorkerGroup{
			ObjectMeta: metav1.ObjectMeta{Name: unique("go-wg")},
			Spec:       daskv1.DaskWorkerGroupSpec{Cluster: "absent", Worker: workerSpec(0)},
		}
		if _, err := client.DaskWorkerGroups(namespace).Create(ctx, sent, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		defer client.DaskWorkerGroups(namespace).Delete(ctx, sent.Name, metav1.DeleteOptions{})
		got, err := client.DaskWorkerGroups(namespace).Get(ctx, sent.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		sameSpec(t, "DaskWorkerGroup spec", sent.Spec, got.Spec)
	})

	t.Run("DaskJob", func(t *testing.T) {
		name := unique("go-job")
		sent := &daskv1.DaskJob{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: daskv1.DaskJobSpec{
				Job: daskv1.JobSpec{Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{container("job", "python", "-c", "print(42)")},
				}},
				Cluster: daskv1.DaskCluster{Spec: clusterSpec(name, 0)},
			},
		}
		if _, err := client.DaskJobs(namespace).Create(ctx, sent, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		defer client.DaskJobs(namespace).Delete(ctx, sent.Name, metav1.DeleteOptions{})
		got, err := client.DaskJobs(namespace).Get(ctx, sent.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		sameSpec(t, "DaskJob spec", sent.Spec, got.Spec)
	})

	t.Run("DaskCluster", func(t *testing.T) {
		name := unique("go-dc")
		sent := &daskv1.DaskCluster{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: clusterSpec(name, 0)}
		if _, err := client.DaskClusters(namespace).Create(ctx, sent, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		defer client.DaskClusters(namespace).Delete(ctx, sent.Name, metav1.DeleteOptions{})
		got, err := client.DaskClusters(namespace).Get(ctx, sent.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		sameSpec(t, "DaskCluster spec", sent.Spec, got.Spec)
		listed, err := client.DaskClusters(namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, item := range listed.Items {
			found = found || item.Name == name
		}
		if !found {
			t.Errorf("DaskCluster %s not in the list", name)
		}
	})
}

// An object the CRD schema refuses comes back as the API server's 422 Invalid, naming the field.
func TestInvalidObjectsAreRefusedWith422(t *testing.T) {
	client := clientset(t).KubernetesV1()
	ctx := context.Background()
	cases := map[string]struct {
		create func() error
		field  string
	}{
		"negative minimum": {func() error {
			_, err := client.DaskAutoscalers(namespace).Create(ctx, &daskv1.DaskAutoscaler{
				ObjectMeta: metav1.ObjectMeta{Name: unique("go-bad")},
				Spec:       daskv1.DaskAutoscalerSpec{Cluster: "c", Minimum: -1, Maximum: 1},
			}, metav1.CreateOptions{})
			return err
		}, "spec.minimum"},
		"worker without containers": {func() error {
			name := unique("go-bad")
			spec := clusterSpec(name, 1)
			spec.Worker.Spec.Containers = nil
			_, err := client.DaskClusters(namespace).Create(ctx, &daskv1.DaskCluster{
				ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec,
			}, metav1.CreateOptions{})
			return err
		}, "spec.worker.spec.containers"},
		"cluster name not an RFC 1123 label": {func() error {
			_, err := client.DaskWorkerGroups(namespace).Create(ctx, &daskv1.DaskWorkerGroup{
				ObjectMeta: metav1.ObjectMeta{Name: unique("go-bad")},
				Spec:       daskv1.DaskWorkerGroupSpec{Cluster: "Not_A_Label", Worker: workerSpec(1)},
			}, metav1.CreateOptions{})
			return err
		}, "spec.cluster"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := c.create()
			if !apierrors.IsInvalid(err) {
				t.Fatalf("want the API server's 422 Invalid, got %v", err)
			}
			if code := err.(apierrors.APIStatus).Status().Code; code != 422 {
				t.Errorf("status code %d, want 422", code)
			}
			if !strings.Contains(err.Error(), c.field) {
				t.Errorf("the refusal does not name %s: %v", c.field, err)
			}
		})
	}
}

// An informer watches a DaskCluster while the operator reconciles it to Running; the cluster and
// a worker group are then scaled through the scale subresource.
func TestInformerSeesClusterRunningAndScaleSubresource(t *testing.T) {
	clients := clientset(t)
	client := clients.KubernetesV1()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	name := unique("go-run")

	factory := externalversions.NewSharedInformerFactoryWithOptions(clients, 0, externalversions.WithNamespace(namespace))
	informer := factory.Kubernetes().V1().DaskClusters()
	seen := make(chan *daskv1.DaskCluster, 256)
	_, err := informer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { seen <- obj.(*daskv1.DaskCluster) },
		UpdateFunc: func(_, obj any) { seen <- obj.(*daskv1.DaskCluster) },
	})
	if err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())

	started := time.Now()
	cluster := &daskv1.DaskCluster{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: clusterSpec(name, 1)}
	if _, err := client.DaskClusters(namespace).Create(ctx, cluster, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	defer client.DaskClusters(namespace).Delete(context.Background(), name, metav1.DeleteOptions{})

	// waitFor reads the informer's events until one for this cluster satisfies done.
	waitFor := func(what string, done func(*daskv1.DaskCluster) bool) *daskv1.DaskCluster {
		t.Helper()
		deadline := time.After(runningTimeout)
		var phases []daskv1.DaskClusterPhase
		for {
			select {
			case obj := <-seen:
				if obj.Name != name {
					continue
				}
				if n := len(phases); n == 0 || phases[n-1] != obj.Status.Phase {
					phases = append(phases, obj.Status.Phase)
				}
				if done(obj) {
					t.Logf("%s after %.1fs (phases seen: %v)", what, time.Since(started).Seconds(), phases)
					return obj
				}
			case <-deadline:
				t.Fatalf("no %s within %s; phases seen: %v", what, runningTimeout, phases)
			}
		}
	}
	running := waitFor("DaskCluster Running", func(c *daskv1.DaskCluster) bool {
		return c.Status.Phase == daskv1.DaskClusterRunning
	})
	sameSpec(t, "the informer's DaskCluster spec", cluster.Spec, running.Spec)
	listed, err := informer.Lister().DaskClusters(namespace).Get(name)
	if err != nil {
		t.Fatalf("lister: %v", err)
	}
	if listed.Status.Phase != daskv1.DaskClusterRunning {
		t.Errorf("lister has phase %q, want Running", listed.Status.Phase)
	}

	// The operator writes status concurrently: a Scale carries a resourceVersion, so an update
	// may meet a conflict and is retried on a fresh read, as any client must.
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		scale, err := client.DaskClusters(namespace).GetScale(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if scale.Spec.Replicas != 1 {
			t.Errorf("scale spec.replicas %d, want 1 (spec.worker.replicas)", scale.Spec.Replicas)
		}
		scale.Spec.Replicas = 2
		_, err = client.DaskClusters(namespace).UpdateScale(ctx, name, scale, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := client.DaskClusters(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.Worker.Replicas != 2 {
		t.Errorf("spec.worker.replicas %d after scaling to 2", got.Spec.Worker.Replicas)
	}
	waitFor("status.replicas 2", func(c *daskv1.DaskCluster) bool { return c.Status.Replicas == 2 })
	scale, err := client.DaskClusters(namespace).GetScale(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if scale.Status.Replicas != 2 {
		t.Errorf("scale status.replicas %d, want 2 (status.replicas)", scale.Status.Replicas)
	}

	group := &daskv1.DaskWorkerGroup{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-extra"},
		Spec:       daskv1.DaskWorkerGroupSpec{Cluster: name, Worker: workerSpec(0)},
	}
	if _, err := client.DaskWorkerGroups(namespace).Create(ctx, group, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		groupScale, err := client.DaskWorkerGroups(namespace).GetScale(ctx, group.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		groupScale.Spec.Replicas = 1
		_, err = client.DaskWorkerGroups(namespace).UpdateScale(ctx, group.Name, groupScale, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	scaled, err := client.DaskWorkerGroups(namespace).Get(ctx, group.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if scaled.Spec.Worker.Replicas != 1 {
		t.Errorf("worker group spec.worker.replicas %d after scaling to 1", scaled.Spec.Worker.Replicas)
	}
}
