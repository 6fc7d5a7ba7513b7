package podrun

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
)

// Config tunes Start.
type Config struct {
	// Client is an admin client of the bed.
	Client kubernetes.Interface
	// NodeName is the node whose pods may run.
	NodeName string
	// HostIP is the node's address (status.hostIP).
	HostIP string
	// Dir holds the pods' directories (roots, volumes, logs).
	Dir string
	// Network gives the pods their addresses.
	Network *Network
	// Logf reports what the runtime does; nil reports nothing.
	Logf func(format string, args ...any)
}

// Runtime runs the pods of the table's images. Stop it with Stop.
type Runtime struct {
	cfg    Config
	images table
	ctx    context.Context
	cancel context.CancelFunc

	services  corelisters.ServiceLister
	endpoints discoverylisters.EndpointSliceLister

	mu    sync.Mutex
	pods  map[types.UID]*pod
	hosts map[string]string
	wg    sync.WaitGroup
}

// ErrNoInitHook says the binary never called MaybeRunContainerInit: it cannot be a
// container's init.
var ErrNoInitHook = errors.New("podrun: this binary does not call podrun.MaybeRunContainerInit first thing (TestMain: use testbed.RunMain)")

// Start starts the runtime: from now on it runs every pod of cfg.NodeName whose images are
// in the table. The caller must have told kwok to leave those pods alone (KwokSelector).
func Start(ctx context.Context, cfg Config) (*Runtime, error) {
	if !hookInstalled {
		return nil, ErrNoInitHook
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("podrun: running pods needs root (namespaces, mounts)")
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	images, err := TableForHost()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("podrun: make pods dir: %w", err)
	}
	r := &Runtime{cfg: cfg, images: images, pods: map[types.UID]*pod{}, hosts: map[string]string{}}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	all := informers.NewSharedInformerFactory(cfg.Client, 0)
	r.services = all.Core().V1().Services().Lister()
	r.endpoints = all.Discovery().V1().EndpointSlices().Lister()
	onNode := informers.NewSharedInformerFactoryWithOptions(cfg.Client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", cfg.NodeName).String()
	}))
	podInf := onNode.Core().V1().Pods().Informer()
	if _, err := podInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { r.sync(obj, false) },
		UpdateFunc: func(_, obj any) { r.sync(obj, false) },
		DeleteFunc: func(obj any) { r.sync(obj, true) },
	}); err != nil {
		return nil, fmt.Errorf("podrun: watch pods: %w", err)
	}
	all.Start(r.ctx.Done())
	onNode.Start(r.ctx.Done())
	for typ, ok := range all.WaitForCacheSync(ctx.Done()) {
		if !ok {
			r.cancel()
			return nil, fmt.Errorf("podrun: sync %v: %w", typ, ctx.Err())
		}
	}
	if !cache.WaitForCacheSync(ctx.Done(), podInf.HasSynced) {
		r.cancel()
		return nil, fmt.Errorf("podrun: sync pods: %w", ctx.Err())
	}
	return r, nil
}

// TableForHost is the table of images with the host's PostgreSQL major version, checked
// against the host's programs.
func TableForHost() ([]Image, error) {
	major, err := HostPostgresMajor()
	if err != nil {
		return nil, fmt.Errorf("podrun: %w", err)
	}
	images := Images(major)
	if err := checkPrograms(images); err != nil {
		return nil, fmt.Errorf("podrun: %w", err)
	}
	return images, nil
}

// Images is the runtime's table.
func (r *Runtime) Images() []Image { return r.images }

// AddHost makes name resolve to ip in every pod started from now on (a machine on the
// bed's "LAN", such as the NAS, that the real cluster would find by DNS).
func (r *Runtime) AddHost(name, ip string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hosts[name] = ip
}

// Stop kills every container at once, removes the pods' network namespaces and waits for
// the pod workers. The pod objects stay (the bed is going away).
func (r *Runtime) Stop() error {
	if r == nil {
		return nil
	}
	r.cancel()
	r.mu.Lock()
	for _, p := range r.pods {
		p.abort()
	}
	r.mu.Unlock()
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(30 * time.Second):
		return errors.New("podrun: pod workers did not stop within 30s")
	}
}

// PIDs lists the host PIDs of the running containers (for leak checks).
func (r *Runtime) PIDs() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var pids []int
	for _, p := range r.pods {
		pids = append(pids, p.pids()...)
	}
	return pids
}

// PodPIDs lists the host PIDs of the running containers of one pod.
func (r *Runtime) PodPIDs(namespace, name string) []int {
	if p := r.find(namespace, name); p != nil {
		return p.pids()
	}
	return nil
}

// sync reacts to a pod event.
func (r *Runtime) sync(obj any, deleted bool) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	obj2, ok := obj.(*corev1.Pod)
	if !ok || !r.images.runs(obj2) {
		return
	}
	po := obj2.DeepCopy()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ctx.Err() != nil {
		return
	}
	p := r.pods[po.UID]
	switch {
	case deleted:
		if p != nil {
			p.abort()
		}
	case p == nil:
		if po.Status.Phase == corev1.PodSucceeded || po.Status.Phase == corev1.PodFailed {
			return // ran before this runtime (not on a bed)
		}
		p = newPod(r, po)
		r.pods[po.UID] = p
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			p.run()
			r.mu.Lock()
			delete(r.pods, po.UID)
			r.mu.Unlock()
		}()
		if po.DeletionTimestamp != nil {
			p.terminate(po)
		}
	case po.DeletionTimestamp != nil:
		p.terminate(po)
	}
}

// find returns the pod worker of namespace/name.
func (r *Runtime) find(namespace, name string) *pod {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.pods {
		if p.namespace == namespace && p.name == name {
			return p
		}
	}
	return nil
}

// hostsFile is /etc/hosts for a pod: localhost, the pod, the extra hosts, and every
// Service name with ready endpoints (headless or not: there is no kube-proxy) to its first
// endpoint address.
func (r *Runtime) hostsFile(p *pod) string {
	var b strings.Builder
	b.WriteString("# written by the test bed's pod runtime (internal/testbed/podrun)\n")
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	if p.net != nil {
		fmt.Fprintf(&b, "%s\t%s\n", p.net.IP, p.name)
	}
	r.mu.Lock()
	extra := make([]string, 0, len(r.hosts))
	for name, ip := range r.hosts {
		extra = append(extra, ip+"\t"+name)
	}
	r.mu.Unlock()
	sort.Strings(extra)
	for _, l := range extra {
		b.WriteString(l + "\n")
	}
	svcs, _ := r.services.List(labels.Everything())
	sort.Slice(svcs, func(i, j int) bool {
		return svcs[i].Namespace+"/"+svcs[i].Name < svcs[j].Namespace+"/"+svcs[j].Name
	})
	for _, s := range svcs {
		ip := r.serviceAddress(s)
		if ip == "" {
			continue
		}
		names := []string{s.Name + "." + s.Namespace + ".svc.cluster.local", s.Name + "." + s.Namespace + ".svc", s.Name + "." + s.Namespace}
		if s.Namespace == p.namespace {
			names = append(names, s.Name)
		}
		fmt.Fprintf(&b, "%s\t%s\n", ip, strings.Join(names, " "))
	}
	return b.String()
}

// serviceAddress is the first ready endpoint address of a Service.
func (r *Runtime) serviceAddress(s *corev1.Service) string {
	sel := labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: s.Name})
	slices, _ := r.endpoints.EndpointSlices(s.Namespace).List(sel)
	var addrs []string
	for _, sl := range slices {
		if sl.AddressType != discoveryv1.AddressTypeIPv4 {
			continue
		}
		for _, ep := range sl.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			addrs = append(addrs, ep.Addresses...)
		}
	}
	sort.Strings(addrs)
	if len(addrs) == 0 {
		return ""
	}
	return addrs[0]
}

// podDir is the directory of a pod.
func (r *Runtime) podDir(uid types.UID) string { return filepath.Join(r.cfg.Dir, string(uid)) }
