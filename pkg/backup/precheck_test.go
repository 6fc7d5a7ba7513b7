package backup

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// The pre-check's decisions (pure logic over the API's answers; the bed tests run the
// commands): missing → refused, present → fine, not allowed to read → not checked.
func TestRequireSecrets(t *testing.T) {
	spec := &corev1.PodSpec{
		Volumes:    []corev1.Volume{{Name: "ssh", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "ssh-key"}}}},
		Containers: []corev1.Container{{Name: "c", Env: []corev1.EnvVar{{Name: "PGPASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "password"}}}}}},
	}
	secret := func(name string) runtime.Object {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "backup-jobs"}}
	}
	ctx := context.Background()

	c := &Client{Kube: fake.NewClientset(secret("ssh-key"), secret("db")), Namespace: "backup-jobs"}
	require.NoError(t, c.RequireSecrets(ctx, spec))

	c = &Client{Kube: fake.NewClientset(secret("ssh-key")), Namespace: "backup-jobs"}
	err := c.RequireSecrets(ctx, spec)
	require.ErrorIs(t, err, ErrSecretMissing)
	assert.Contains(t, err.Error(), "secret backup-jobs/db does not exist")

	kube := fake.NewClientset()
	kube.PrependReactor("get", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "db", errors.New("no rights"))
	})
	c = &Client{Kube: kube, Namespace: "backup-jobs"}
	assert.NoError(t, c.RequireSecrets(ctx, spec), "an operator who may not read Secrets is not stopped")
}

func TestNearestDumpName(t *testing.T) {
	names := []string{"immich-20261103T023000Z.pgdump", "immich-20261110T023000Z.pgdump", "immich-20261117T023000Z.pgdump"}
	assert.Equal(t, "immich-20261110T023000Z.pgdump", Nearest("immich-20261110T023001Z.pgdump", names))
	assert.Equal(t, "immich-20261117T023000Z.pgdump", Nearest("immich-20261117.pgdump", names))
	assert.Equal(t, "", Nearest("x", nil))
	assert.Equal(t, 3, editDistance("kitten", "sitting"))
}
