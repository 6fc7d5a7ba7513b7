package testbed_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/picluster/kubectl-picluster/internal/testbed"
	"github.com/picluster/kubectl-picluster/internal/testbed/proc"
)

func requireRunPods(t *testing.T) *testbed.Cluster { return testbed.RequireRunPods(t) }

// kubectl runs the bed's kubectl with stdin and returns stdout, stderr and its exit code.
func kubectl(t *testing.T, c *testbed.Cluster, stdin []byte, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Kubectl, append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("kubectl %v: %v", args, err)
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

func shellPod(ns, name, script string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: ptr.To[int64](3),
			Containers:                    []corev1.Container{{Name: "main", Image: "alpine:3.23", Command: []string{"/bin/sh", "-c", script}}},
		},
	}
}

func createPod(t *testing.T, c *testbed.Cluster, pod *corev1.Pod) {
	t.Helper()
	_, err := c.Client.CoreV1().Pods(pod.Namespace).Create(context.Background(), pod, metav1.CreateOptions{})
	require.NoError(t, err)
}

func waitPhase(t *testing.T, c *testbed.Cluster, ns, name string, phases ...corev1.PodPhase) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	waitFor(t, "pod "+name+" in phase "+string(phases[0]), func(ctx context.Context) (bool, error) {
		var err error
		if pod, err = c.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
			return false, err
		}
		for _, ph := range phases {
			if pod.Status.Phase == ph {
				return true, nil
			}
		}
		return false, nil
	})
	return pod
}

func TestRunPodExecClosesStdinAndKeepsTheExitCode(t *testing.T) {
	c := requireRunPods(t)
	ns := c.Namespace(t)
	createPod(t, c, shellPod(ns, "shell", "sleep 3600"))
	waitPhase(t, c, ns, "shell", corev1.PodRunning)
	input := []byte("line one\nline two\n")
	out, errOut, code := kubectl(t, c, input, "-n", ns, "exec", "-i", "shell", "--", "sh", "-c", "cat; exit 3")
	assert.Equal(t, string(input), out, errOut)
	assert.Equal(t, 3, code, errOut)
	// The command runs inside the container: its hostname is the pod's, its PID namespace its own.
	out, errOut, code = kubectl(t, c, nil, "-n", ns, "exec", "shell", "--", "sh", "-c", "hostname; cat /proc/1/cmdline | tr '\\0' ' '")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "shell\n/bin/sh -c sleep 3600 ", out)
}

func TestRunPodLogsFollowEndsWithTheContainer(t *testing.T) {
	c := requireRunPods(t)
	ns := c.Namespace(t)
	createPod(t, c, shellPod(ns, "talker", "echo one; echo two >&2; sleep 2; echo three; exit 4"))
	waitPhase(t, c, ns, "talker", corev1.PodRunning, corev1.PodFailed)
	began := time.Now()
	out, errOut, code := kubectl(t, c, nil, "-n", ns, "logs", "-f", "talker")
	require.Equal(t, 0, code, errOut)
	// stdout and stderr are two pipes, as in a container runtime: their lines may interleave.
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 3, out)
	assert.ElementsMatch(t, []string{"one", "two"}, lines[:2])
	assert.Equal(t, "three", lines[2])
	assert.Less(t, time.Since(began), 30*time.Second)
	pod := waitPhase(t, c, ns, "talker", corev1.PodFailed)
	require.Len(t, pod.Status.ContainerStatuses, 1)
	term := pod.Status.ContainerStatuses[0].State.Terminated
	require.NotNil(t, term)
	assert.Equal(t, int32(4), term.ExitCode)
	assert.Equal(t, "Error", term.Reason)
	out, _, code = kubectl(t, c, nil, "-n", ns, "logs", "--tail=1", "talker")
	require.Equal(t, 0, code)
	assert.Equal(t, "three\n", out)
}

func TestRunPodEnvVolumesAndUser(t *testing.T) {
	c := requireRunPods(t)
	ns := c.Namespace(t)
	ctx := context.Background()
	_, err := c.Client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: ns},
		Data:       map[string][]byte{"password": []byte("s3cret"), "key": []byte("private")},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = c.Client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "script", Namespace: ns},
		Data:       map[string]string{"run.sh": "echo from-configmap\n"},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	script := `echo "user=$(id -u):$(id -g) groups=$(id -G)"
echo "pod=$POD_NAME ns=$POD_NS pw=$PW greeting=$GREETING"
sh /opt/run.sh
stat -c 'key=%a %U:%G' /keys/id
stat -c 'work=%a' /work
touch /work/ok && echo work-writable
touch /rootfile 2>/dev/null || echo root-read-only
grep -q "	env$" /etc/hosts && echo hosts-ok`
	pod := shellPod(ns, "env", script)
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](65534), RunAsGroup: ptr.To[int64](65534), FSGroup: ptr.To[int64](65534), RunAsNonRoot: ptr.To(true)}
	ctr := &pod.Spec.Containers[0]
	ctr.SecurityContext = &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr.To(true), AllowPrivilegeEscalation: ptr.To(false)}
	ctr.Env = []corev1.EnvVar{
		{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: "POD_NS", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
		{Name: "PW", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "password"}}},
		{Name: "GREETING", Value: "hello-$(POD_NAME)"},
	}
	ctr.VolumeMounts = []corev1.VolumeMount{{Name: "script", MountPath: "/opt"}, {Name: "keys", MountPath: "/keys"}, {Name: "work", MountPath: "/work"}}
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "script", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "script"}, DefaultMode: ptr.To[int32](0o555)}}},
		{Name: "keys", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds", DefaultMode: ptr.To[int32](0o440), Items: []corev1.KeyToPath{{Key: "key", Path: "id"}}}}},
		{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	createPod(t, c, pod)
	done := waitPhase(t, c, ns, "env", corev1.PodSucceeded, corev1.PodFailed)
	out, errOut, _ := kubectl(t, c, nil, "-n", ns, "logs", "env")
	require.Equal(t, corev1.PodSucceeded, done.Status.Phase, out+errOut)
	assert.Equal(t, strings.Join([]string{
		"user=65534:65534 groups=65534",
		"pod=env ns=" + ns + " pw=s3cret greeting=hello-env",
		"from-configmap",
		"key=440 root:nogroup",
		"work=2777",
		"work-writable",
		"root-read-only",
		"hosts-ok",
	}, "\n")+"\n", out)
	assert.NotEmpty(t, done.Status.PodIP)
}

func TestRunPodInitFailureFailsThePod(t *testing.T) {
	c := requireRunPods(t)
	ns := c.Namespace(t)
	pod := shellPod(ns, "initfail", "echo never")
	pod.Spec.InitContainers = []corev1.Container{{Name: "first", Image: "alpine:3.23", Command: []string{"sh", "-c", "echo failing >&2; exit 7"}}}
	createPod(t, c, pod)
	got := waitPhase(t, c, ns, "initfail", corev1.PodFailed)
	require.Len(t, got.Status.InitContainerStatuses, 1)
	term := got.Status.InitContainerStatuses[0].State.Terminated
	require.NotNil(t, term)
	assert.Equal(t, int32(7), term.ExitCode)
	require.Len(t, got.Status.ContainerStatuses, 1)
	assert.Nil(t, got.Status.ContainerStatuses[0].State.Terminated, "the container never ran")
	out, _, code := kubectl(t, c, nil, "-n", ns, "logs", "initfail", "-c", "first")
	require.Equal(t, 0, code)
	assert.Equal(t, "failing\n", out)
}

func TestRunPodDeletionStopsItsProcesses(t *testing.T) {
	c := requireRunPods(t)
	ns := c.Namespace(t)
	// The shell is PID 1 of its container and ignores SIGTERM: SIGKILL after the grace period
	// ends it, and its child sleep with it (the container's PID namespace goes). (dash's
	// `wait` returns on a signal even when it is ignored: a loop keeps it alive.)
	before := podNetNS(t, c)
	createPod(t, c, shellPod(ns, "sleeper", "trap '' TERM; while :; do sleep 1; done"))
	waitPhase(t, c, ns, "sleeper", corev1.PodRunning)
	var mine []string
	for _, n := range podNetNS(t, c) {
		if !slices.Contains(before, n) {
			mine = append(mine, n)
		}
	}
	require.Len(t, mine, 1, "the pod has a network namespace of its own")
	pids := c.Runtime.PodPIDs(ns, "sleeper")
	require.NotEmpty(t, pids)
	began := time.Now()
	require.NoError(t, c.Client.CoreV1().Pods(ns).Delete(context.Background(), "sleeper", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](1)}))
	waitFor(t, "pod removed", func(ctx context.Context) (bool, error) {
		_, err := c.Client.CoreV1().Pods(ns).Get(ctx, "sleeper", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	took := time.Since(began)
	t.Logf("deleted in %s", took.Round(time.Millisecond))
	assert.GreaterOrEqual(t, took, time.Second, "SIGKILL comes only after the grace period")
	for _, pid := range pids {
		assert.False(t, proc.Alive(pid), "process %d still alive", pid)
	}
	assert.NotContains(t, podNetNS(t, c), mine[0], "the pod's network namespace is removed")
}

// podNetNS lists the network namespaces of the bed's run pods.
func podNetNS(t *testing.T, c *testbed.Cluster) []string {
	t.Helper()
	found, err := filepath.Glob(fmt.Sprintf("/run/netns/%s%d-p*", testbed.NetNSPrefix, c.Slot))
	require.NoError(t, err)
	return found
}

func TestPodWithAnUnknownImageStaysSimulated(t *testing.T) {
	c := requireRunPods(t)
	ns := c.Namespace(t)
	pod := shellPod(ns, "mixed", "sleep 3600")
	pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "server", Image: "ghcr.io/immich-app/immich-server:v1.135.3"})
	createPod(t, c, pod)
	got := waitPhase(t, c, ns, "mixed", corev1.PodRunning)
	assert.Empty(t, c.Runtime.PodPIDs(ns, "mixed"), "kwok simulates a pod with any image outside the table")
	assert.Len(t, got.Status.ContainerStatuses, 2)
	assert.Nil(t, got.Status.ContainerStatuses[0].State.Terminated)
}
