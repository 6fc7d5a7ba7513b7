package restore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Step is one step of a restore.
type Step string

// The steps of a restore, in order.
const (
	StepPreflight    Step = "preflight"
	StepRestorePoint Step = "restore-point"
	StepScaleDown    Step = "scale-down"
	StepRestore      Step = "restore"
	StepVerify       Step = "verify"
	StepScaleUp      Step = "scale-up"
	StepHealth       Step = "health"
)

// Steps are the steps of a restore in the order they run.
var Steps = []Step{StepPreflight, StepRestorePoint, StepScaleDown, StepRestore, StepVerify, StepScaleUp, StepHealth}

// next returns the step after s ("" after the last; the first after "").
func next(s Step) Step {
	if s == "" {
		return Steps[0]
	}
	for i, x := range Steps {
		if x == s && i+1 < len(Steps) {
			return Steps[i+1]
		}
	}
	return ""
}

// Phase is where a recorded restore stands.
type Phase string

// The phases of a restore.
const (
	// Running: the steps are under way (or were, when the process died).
	Running Phase = "Running"
	// RollingBack: a step failed after the database was touched; the restore point
	// is being restored, then Immich scaled up.
	RollingBack Phase = "RollingBack"
	// Succeeded: every step passed.
	Succeeded Phase = "Succeeded"
	// Failed: a step failed; the cluster was put back (State says how).
	Failed Phase = "Failed"
)

// State is a restore's progress, kept in the cluster (a ConfigMap beside the backup
// CronJob) after every step, so that Resume can continue it from another process.
type State struct {
	ID       string `json:"id"`
	Database string `json:"database"`
	// Backup is the dump being restored (resolved: never "latest").
	Backup string `json:"backup"`
	// Label is the dump's label on the NAS ("" for a backup, "restorepoint").
	Label string `json:"label,omitempty"`
	Jobs  int    `json:"jobs"`
	Phase Phase  `json:"phase"`
	// Done is the last step that completed ("" before the first).
	Done Step `json:"done"`
	// Replicas are Immich's Deployments' replicas recorded at preflight.
	Replicas map[string]int32 `json:"replicas,omitempty"`
	// RestorePoint is the dump of the live database taken before it was touched.
	RestorePoint string `json:"restorePoint,omitempty"`
	// Touched is set before the restore Job is created: from then on a failure
	// restores the restore point.
	Touched bool `json:"touched"`
	// Job is the Job of the step under way, adopted by Resume when it still exists.
	Job string `json:"job,omitempty"`
	// Tables are the dump's tables with their rows, and Size its bytes (from preflight).
	Tables map[string]int64 `json:"tables,omitempty"`
	Size   int64            `json:"size,omitempty"`
	// Checks are the restore Job's table checks, for the verify step.
	Checks []TableCheck `json:"checks,omitempty"`
	// Extensions are the extensions the dump needs.
	Extensions []string  `json:"extensions,omitempty"`
	Started    time.Time `json:"started"`
	Updated    time.Time `json:"updated"`
	// Error is why the restore failed (Failed and RollingBack).
	Error string `json:"error,omitempty"`
}

// stateKey is the ConfigMap's key holding the State as JSON.
const stateKey = "state.json"

// store reads and writes the State's ConfigMap, with optimistic concurrency.
type store struct {
	kube      kubernetes.Interface
	namespace string
	name      string
	cm        *corev1.ConfigMap
}

// load returns the recorded State, or nil when there is none.
func (s *store) load(ctx context.Context) (*State, error) {
	cm, err := s.kube.CoreV1().ConfigMaps(s.namespace).Get(ctx, s.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		s.cm = nil
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the restore's progress (configmap %s/%s): %w", s.namespace, s.name, err)
	}
	s.cm = cm
	st := &State{}
	if err := json.Unmarshal([]byte(cm.Data[stateKey]), st); err != nil {
		return nil, fmt.Errorf("read the restore's progress (configmap %s/%s, key %s): %w", s.namespace, s.name, stateKey, err)
	}
	return st, nil
}

// save records st (created the first time, updated after). It uses a context of its
// own: progress must be recorded also while an interrupted restore puts things back.
func (s *store) save(ctx context.Context, st *State) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	st.Updated = time.Now().UTC().Truncate(time.Second)
	raw, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("record the restore's progress: %w", err)
	}
	cms := s.kube.CoreV1().ConfigMaps(s.namespace)
	if s.cm == nil {
		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: s.name, Namespace: s.namespace, Labels: map[string]string{"app.kubernetes.io/managed-by": "kubectl-picluster", "app.kubernetes.io/component": "restore"}},
			Data:       map[string]string{stateKey: string(raw)},
		}
		created, err := cms.Create(ctx, cm, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("record the restore's progress (create configmap %s/%s): %w", s.namespace, s.name, err)
		}
		s.cm = created
		return nil
	}
	cm := s.cm.DeepCopy()
	cm.Data = map[string]string{stateKey: string(raw)}
	updated, err := cms.Update(ctx, cm, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("record the restore's progress (update configmap %s/%s): %w", s.namespace, s.name, err)
	}
	s.cm = updated
	return nil
}
