package podrun

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// containerEnv is the container's environment as a kubelet builds it: the image's, then
// HOSTNAME, envFrom, env (value with $(VAR) expansion, secretKeyRef, configMapKeyRef,
// fieldRef).
func (p *pod) containerEnv(ctx context.Context, c corev1.Container, im Image) ([]string, error) {
	vars := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := vars[k]; !ok {
			order = append(order, k)
		}
		vars[k] = v
	}
	for _, kv := range im.Env {
		k, v, _ := strings.Cut(kv, "=")
		set(k, v)
	}
	set("HOSTNAME", p.name)
	for _, from := range c.EnvFrom {
		data, err := p.envSource(ctx, from)
		if err != nil {
			return nil, err
		}
		for k, v := range data {
			set(from.Prefix+k, v)
		}
	}
	for _, e := range c.Env {
		v, err := p.envValue(ctx, e, vars)
		if err != nil {
			return nil, err
		}
		set(e.Name, v)
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+vars[k])
	}
	return out, nil
}

func (p *pod) envSource(ctx context.Context, from corev1.EnvFromSource) (map[string]string, error) {
	core := p.r.cfg.Client.CoreV1()
	switch {
	case from.ConfigMapRef != nil:
		cm, err := core.ConfigMaps(p.namespace).Get(ctx, from.ConfigMapRef.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) && isTrue(from.ConfigMapRef.Optional) {
			return nil, nil
		}
		if err != nil {
			return nil, &configError{fmt.Sprintf("configmap %q not found", from.ConfigMapRef.Name)}
		}
		return cm.Data, nil
	case from.SecretRef != nil:
		s, err := core.Secrets(p.namespace).Get(ctx, from.SecretRef.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) && isTrue(from.SecretRef.Optional) {
			return nil, nil
		}
		if err != nil {
			return nil, &configError{fmt.Sprintf("secret %q not found", from.SecretRef.Name)}
		}
		out := map[string]string{}
		for k, v := range s.Data {
			out[k] = string(v)
		}
		return out, nil
	}
	return nil, nil
}

func (p *pod) envValue(ctx context.Context, e corev1.EnvVar, vars map[string]string) (string, error) {
	if e.ValueFrom == nil {
		return expand(e.Value, vars), nil
	}
	vf := e.ValueFrom
	switch {
	case vf.SecretKeyRef != nil:
		ref := vf.SecretKeyRef
		return p.keyRef(ctx, "Secret", ref.Name, ref.Key, ref.Optional)
	case vf.ConfigMapKeyRef != nil:
		ref := vf.ConfigMapKeyRef
		return p.keyRef(ctx, "ConfigMap", ref.Name, ref.Key, ref.Optional)
	case vf.FieldRef != nil:
		return p.fieldValue(vf.FieldRef.FieldPath)
	}
	return "", &configError{fmt.Sprintf("env %s: resourceFieldRef is not supported on the bed", e.Name)}
}

// keyRef is one key of a Secret or ConfigMap of the pod's namespace (empty when optional
// and missing).
func (p *pod) keyRef(ctx context.Context, kind, name, key string, optional *bool) (string, error) {
	core := p.r.cfg.Client.CoreV1()
	var data map[string]string
	var err error
	if kind == "Secret" {
		var s *corev1.Secret
		if s, err = core.Secrets(p.namespace).Get(ctx, name, metav1.GetOptions{}); err == nil {
			data = map[string]string{}
			for k, v := range s.Data {
				data[k] = string(v)
			}
		}
	} else {
		var cm *corev1.ConfigMap
		if cm, err = core.ConfigMaps(p.namespace).Get(ctx, name, metav1.GetOptions{}); err == nil {
			data = cm.Data
		}
	}
	if err != nil {
		if apierrors.IsNotFound(err) && isTrue(optional) {
			return "", nil
		}
		return "", &configError{fmt.Sprintf("%s %q not found", strings.ToLower(kind), name)}
	}
	v, ok := data[key]
	if !ok && !isTrue(optional) {
		return "", &configError{fmt.Sprintf("couldn't find key %s in %s %s/%s", key, kind, p.namespace, name)}
	}
	return v, nil
}

// fieldValue is a downward API field.
func (p *pod) fieldValue(path string) (string, error) {
	po := p.spec
	p.mu.Lock()
	podIP, hostIP := p.status.PodIP, p.status.HostIP
	p.mu.Unlock()
	switch path {
	case "metadata.name":
		return po.Name, nil
	case "metadata.namespace":
		return po.Namespace, nil
	case "metadata.uid":
		return string(po.UID), nil
	case "spec.nodeName":
		return po.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return po.Spec.ServiceAccountName, nil
	case "status.podIP":
		return podIP, nil
	case "status.hostIP":
		return hostIP, nil
	}
	for prefix, m := range map[string]map[string]string{"metadata.labels": po.Labels, "metadata.annotations": po.Annotations} {
		if key, ok := strings.CutPrefix(path, prefix+"['"); ok {
			return m[strings.TrimSuffix(key, "']")], nil
		}
	}
	return "", &configError{fmt.Sprintf("fieldRef %s is not supported on the bed", path)}
}

// expand replaces $(VAR) with the value of VAR when it is defined, and $$ with $, as the
// kubelet expands env values, command and args.
func expand(s string, vars map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteByte(s[i])
				continue
			}
			name := s[i+2 : i+2+end]
			if v, ok := vars[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func expandAll(in []string, env []string) []string {
	vars := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = expand(s, vars)
	}
	return out
}

func isTrue(b *bool) bool { return b != nil && *b }
