package v1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TemplateMetadata is the labels and annotations given to the Pods (and Service) made from a spec.
type TemplateMetadata struct {
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// WorkerSpec describes the workers of a worker group.
type WorkerSpec struct {
	// Number of workers; the scale subresource reads and writes it.
	Replicas int               `json:"replicas"`
	Metadata *TemplateMetadata `json:"metadata,omitempty"`
	Spec     corev1.PodSpec    `json:"spec"`
}

// SchedulerSpec describes the scheduler Pod and the Service in front of it.
type SchedulerSpec struct {
	Metadata *TemplateMetadata  `json:"metadata,omitempty"`
	Spec     corev1.PodSpec     `json:"spec"`
	Service  corev1.ServiceSpec `json:"service"`
}

// DaskClusterSpec is the desired state of a DaskCluster.
type DaskClusterSpec struct {
	// Delete the cluster once the scheduler is idle this many seconds (0 never).
	IdleTimeout int           `json:"idleTimeout,omitempty"`
	Scheduler   SchedulerSpec `json:"scheduler"`
	Worker      WorkerSpec    `json:"worker"`
	// Mutually authenticated TLS on every Dask connection, with certificates the operator issues
	// into a Secret the DaskCluster owns (off when absent, as in upstream's manifests).
	TLS bool `json:"tls,omitempty"`
}

// DaskClusterPhase is the lifecycle phase of a DaskCluster.
type DaskClusterPhase string

// The phases the operator writes to status.phase.
const (
	DaskClusterPending DaskClusterPhase = "Pending"
	DaskClusterCreated DaskClusterPhase = "Created"
	DaskClusterRunning DaskClusterPhase = "Running"
	DaskClusterClosing DaskClusterPhase = "Closing"
	DaskClusterError   DaskClusterPhase = "Error"
)

// DaskClusterStatus is the observed state of a DaskCluster, written by the operator.
type DaskClusterStatus struct {
	// The phase the cluster is in right now.
	Phase DaskClusterPhase `json:"phase,omitempty"`
	// Why the cluster is in an Error phase.
	Reason string `json:"reason,omitempty"`
	// Worker Pods of the default worker group that exist; the scale subresource reads it.
	Replicas int `json:"replicas,omitempty"`
	// SchedulerReady and the like.
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +genclient
// +genclient:method=GetScale,verb=get,subresource=scale,result=k8s.io/api/autoscaling/v1.Scale
// +genclient:method=UpdateScale,verb=update,subresource=scale,input=k8s.io/api/autoscaling/v1.Scale,result=k8s.io/api/autoscaling/v1.Scale
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// DaskCluster is a Dask scheduler and its default worker group.
type DaskCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              DaskClusterSpec   `json:"spec"`
	Status            DaskClusterStatus `json:"status,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// DaskClusterList is a list of DaskClusters.
type DaskClusterList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []DaskCluster `json:"items,omitempty"`
}

// DaskWorkerGroupSpec is the desired state of a DaskWorkerGroup.
type DaskWorkerGroupSpec struct {
	// Name of the DaskCluster this worker group joins.
	Cluster string     `json:"cluster"`
	Worker  WorkerSpec `json:"worker"`
}

// DaskWorkerGroupStatus is the observed state of a DaskWorkerGroup, written by the operator.
type DaskWorkerGroupStatus struct {
	// Worker Pods that exist; the scale subresource reads it.
	Replicas int `json:"replicas,omitempty"`
	// Label selector of the group's Pods; the scale subresource reads it.
	Selector string `json:"selector,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// +genclient
// +genclient:method=GetScale,verb=get,subresource=scale,result=k8s.io/api/autoscaling/v1.Scale
// +genclient:method=UpdateScale,verb=update,subresource=scale,input=k8s.io/api/autoscaling/v1.Scale,result=k8s.io/api/autoscaling/v1.Scale
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// DaskWorkerGroup is a group of Dask workers joining a DaskCluster.
type DaskWorkerGroup struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              DaskWorkerGroupSpec   `json:"spec"`
	Status            DaskWorkerGroupStatus `json:"status,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// DaskWorkerGroupList is a list of DaskWorkerGroups.
type DaskWorkerGroupList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []DaskWorkerGroup `json:"items,omitempty"`
}

// JobSpec describes the job runner Pod.
type JobSpec struct {
	Metadata *TemplateMetadata `json:"metadata,omitempty"`
	Spec     corev1.PodSpec    `json:"spec"`
}

// DaskJobSpec is the desired state of a DaskJob.
type DaskJobSpec struct {
	Job JobSpec `json:"job"`
	// The DaskCluster (metadata and spec) the job runs on; its status is not read.
	Cluster DaskCluster `json:"cluster"`
}

// JobStatus is the lifecycle stage of a DaskJob.
type JobStatus string

// The stages the operator writes to status.jobStatus.
const (
	DaskJobCreated        JobStatus = "JobCreated"
	DaskJobClusterCreated JobStatus = "ClusterCreated"
	DaskJobRunning        JobStatus = "Running"
	DaskJobSuccessful     JobStatus = "Successful"
	DaskJobFailed         JobStatus = "Failed"
)

// DaskJobStatus is the observed state of a DaskJob, written by the operator.
type DaskJobStatus struct {
	// The name of the cluster the job runs on.
	ClusterName string `json:"clusterName,omitempty"`
	// The time the job runner Pod ended (succeeded or failed).
	EndTime metav1.Time `json:"endTime,omitempty"`
	// The name of the job runner Pod.
	JobRunnerPodName string `json:"jobRunnerPodName,omitempty"`
	// Set once the runner Pod exists.
	JobRunnerCreated bool `json:"jobRunnerCreated,omitempty"`
	// The current stage of the job.
	JobStatus JobStatus `json:"jobStatus,omitempty"`
	// Why the job failed.
	Reason string `json:"reason,omitempty"`
	// The time the job runner Pod started running.
	StartTime metav1.Time `json:"startTime,omitempty"`
}

// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// DaskJob runs one Pod against a DaskCluster made for it.
type DaskJob struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              DaskJobSpec   `json:"spec"`
	Status            DaskJobStatus `json:"status,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// DaskJobList is a list of DaskJobs.
type DaskJobList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []DaskJob `json:"items,omitempty"`
}

// DaskAutoscalerSpec is the desired state of a DaskAutoscaler.
type DaskAutoscalerSpec struct {
	// Name of the DaskCluster whose default worker group is scaled.
	Cluster string `json:"cluster"`
	// Minimum number of workers.
	Minimum int `json:"minimum"`
	// Maximum number of workers.
	Maximum int `json:"maximum"`
}

// DaskAutoscalerStatus is the observed state of a DaskAutoscaler, written by the operator.
type DaskAutoscalerStatus struct {
	// The number of workers last asked for.
	Desired int    `json:"desired,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// DaskAutoscaler scales the default worker group of a DaskCluster between bounds.
type DaskAutoscaler struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              DaskAutoscalerSpec   `json:"spec"`
	Status            DaskAutoscalerStatus `json:"status,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// DaskAutoscalerList is a list of DaskAutoscalers.
type DaskAutoscalerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []DaskAutoscaler `json:"items,omitempty"`
}
