package podrun

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// volumeDir is where a pod volume's content lives on the host.
func (p *pod) volumeDir(name string) string { return filepath.Join(p.dir, "volumes", name) }

// prepareVolumes fills the pod's volumes: emptyDir (0777, group fsGroup with setgid),
// ConfigMap, Secret and projected (service account token, ConfigMap, downward API
// namespace) files with their items and modes, owned by root and group fsGroup
// (group-readable) as the kubelet leaves them. A missing ConfigMap or Secret is an error:
// the caller waits and tries again, as a kubelet does.
func (p *pod) prepareVolumes(ctx context.Context) error {
	var fsGroup *int64
	if sc := p.spec.Spec.SecurityContext; sc != nil {
		fsGroup = sc.FSGroup
	}
	for _, v := range p.spec.Spec.Volumes {
		dir := p.volumeDir(v.Name)
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("reset volume %s: %w", v.Name, err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("make volume %s: %w", v.Name, err)
		}
		var files map[string]file
		var err error
		switch {
		case v.EmptyDir != nil:
			if err := os.Chmod(dir, 0o777|os.ModeSetgid); err != nil {
				return fmt.Errorf("make volume %s: %w", v.Name, err)
			}
			if fsGroup != nil {
				if err := os.Chown(dir, 0, int(*fsGroup)); err != nil {
					return fmt.Errorf("make volume %s: %w", v.Name, err)
				}
			}
			continue
		case v.ConfigMap != nil:
			files, err = p.configMapFiles(ctx, v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.DefaultMode, v.ConfigMap.Optional)
		case v.Secret != nil:
			files, err = p.secretFiles(ctx, v.Secret.SecretName, v.Secret.Items, v.Secret.DefaultMode, v.Secret.Optional)
		case v.Projected != nil:
			files, err = p.projectedFiles(ctx, v.Projected)
		default:
			return &configError{fmt.Sprintf("volume %s: only emptyDir, configMap, secret and projected volumes run on the bed", v.Name)}
		}
		if err != nil {
			return err
		}
		if err := writeVolume(dir, files, fsGroup); err != nil {
			return fmt.Errorf("fill volume %s: %w", v.Name, err)
		}
	}
	return nil
}

// file is one file of a ConfigMap, Secret or projected volume.
type file struct {
	data []byte
	mode os.FileMode
}

func modeOf(item *int32, def *int32) os.FileMode {
	if item != nil {
		return os.FileMode(*item)
	}
	if def != nil {
		return os.FileMode(*def)
	}
	return 0o644
}

// pick turns data into files: all keys, or the items (path and mode each).
func pick(kind, name string, data map[string][]byte, items []corev1.KeyToPath, def *int32, optional *bool) (map[string]file, error) {
	out := map[string]file{}
	if len(items) == 0 {
		for k, v := range data {
			out[k] = file{v, modeOf(nil, def)}
		}
		return out, nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if isTrue(optional) {
				continue
			}
			return nil, &configError{fmt.Sprintf("configuration for %s %s has no key %q", kind, name, it.Key)}
		}
		out[it.Path] = file{v, modeOf(it.Mode, def)}
	}
	return out, nil
}

func (p *pod) configMapFiles(ctx context.Context, name string, items []corev1.KeyToPath, def *int32, optional *bool) (map[string]file, error) {
	cm, err := p.r.cfg.Client.CoreV1().ConfigMaps(p.namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && isTrue(optional) {
		return nil, nil
	}
	if err != nil {
		return nil, &configError{fmt.Sprintf("configmap %q not found", name)}
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return pick("ConfigMap", name, data, items, def, optional)
}

func (p *pod) secretFiles(ctx context.Context, name string, items []corev1.KeyToPath, def *int32, optional *bool) (map[string]file, error) {
	s, err := p.r.cfg.Client.CoreV1().Secrets(p.namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && isTrue(optional) {
		return nil, nil
	}
	if err != nil {
		return nil, &configError{fmt.Sprintf("secret %q not found", name)}
	}
	if def == nil {
		def = ptr.To[int32](0o644)
	}
	return pick("Secret", name, s.Data, items, def, optional)
}

// projectedFiles serves the kube-api-access volume every pod gets by default: a real
// service account token (TokenRequest), kube-root-ca.crt and the namespace.
func (p *pod) projectedFiles(ctx context.Context, v *corev1.ProjectedVolumeSource) (map[string]file, error) {
	out := map[string]file{}
	for _, src := range v.Sources {
		var part map[string]file
		var err error
		switch {
		case src.ConfigMap != nil:
			part, err = p.configMapFiles(ctx, src.ConfigMap.Name, src.ConfigMap.Items, v.DefaultMode, src.ConfigMap.Optional)
		case src.Secret != nil:
			part, err = p.secretFiles(ctx, src.Secret.Name, src.Secret.Items, v.DefaultMode, src.Secret.Optional)
		case src.ServiceAccountToken != nil:
			sa := p.spec.Spec.ServiceAccountName
			if sa == "" {
				sa = "default"
			}
			tr, terr := p.r.cfg.Client.CoreV1().ServiceAccounts(p.namespace).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
				Spec: authenticationv1.TokenRequestSpec{
					ExpirationSeconds: src.ServiceAccountToken.ExpirationSeconds,
					BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: p.name, UID: p.uid},
				},
			}, metav1.CreateOptions{})
			if terr != nil {
				return nil, &configError{fmt.Sprintf("service account token for %s: %v", sa, terr)}
			}
			part = map[string]file{src.ServiceAccountToken.Path: {[]byte(tr.Status.Token), modeOf(nil, v.DefaultMode)}}
		case src.DownwardAPI != nil:
			part = map[string]file{}
			for _, it := range src.DownwardAPI.Items {
				if it.FieldRef == nil {
					return nil, &configError{"projected downwardAPI: only fieldRef runs on the bed"}
				}
				val, ferr := p.fieldValue(it.FieldRef.FieldPath)
				if ferr != nil {
					return nil, ferr
				}
				part[it.Path] = file{[]byte(val), modeOf(it.Mode, v.DefaultMode)}
			}
		default:
			return nil, &configError{"projected volume source not supported on the bed"}
		}
		if err != nil {
			return nil, err
		}
		for k, f := range part {
			out[k] = f
		}
	}
	return out, nil
}

// writeVolume writes the files (paths may have dirs) with their modes, owned by root and,
// with an fsGroup, by that group and group-readable, as the kubelet does.
func writeVolume(dir string, files map[string]file, fsGroup *int64) error {
	for rel, f := range files {
		if strings.HasPrefix(filepath.Clean(rel), "..") || filepath.IsAbs(rel) {
			return fmt.Errorf("path %q leaves the volume", rel)
		}
		path := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		mode := f.mode & 0o7777
		if fsGroup != nil {
			mode |= 0o440
		}
		if err := os.WriteFile(path, f.data, 0o600); err != nil {
			return err
		}
		if fsGroup != nil {
			if err := os.Chown(path, 0, int(*fsGroup)); err != nil {
				return err
			}
		}
		if err := os.Chmod(path, mode); err != nil {
			return err
		}
	}
	if fsGroup != nil {
		if err := os.Chown(dir, 0, int(*fsGroup)); err != nil {
			return err
		}
		if err := os.Chmod(dir, 0o755|os.ModeSetgid); err != nil {
			return err
		}
	}
	return nil
}

// volumeMounts are the container's volume mounts as bind mounts (subPath honoured;
// ConfigMap, Secret and projected volumes are always read-only, as on a kubelet).
func (p *pod) volumeMounts(c corev1.Container) ([]mount, error) {
	kinds := map[string]corev1.Volume{}
	for _, v := range p.spec.Spec.Volumes {
		kinds[v.Name] = v
	}
	var out []mount
	for _, vm := range c.VolumeMounts {
		v, ok := kinds[vm.Name]
		if !ok {
			return nil, &configError{fmt.Sprintf("volume mount %s: no such volume", vm.Name)}
		}
		src := p.volumeDir(vm.Name)
		isFile := false
		if vm.SubPath != "" {
			src = filepath.Join(src, vm.SubPath)
			if st, err := os.Stat(src); err == nil && !st.IsDir() {
				isFile = true
			} else if err != nil {
				if err := os.MkdirAll(src, 0o777); err != nil {
					return nil, fmt.Errorf("make subPath %s: %w", vm.SubPath, err)
				}
			}
		}
		ro := vm.ReadOnly || v.ConfigMap != nil || v.Secret != nil || v.Projected != nil
		out = append(out, mount{Source: src, Target: vm.MountPath, ReadOnly: ro, File: isFile})
	}
	return out, nil
}
