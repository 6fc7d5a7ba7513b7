// Package apply puts objects into a cluster the way Flux does: server-side apply with the
// plugin's field manager, in two stages (CRDs and Namespaces first, waited on, then the
// rest), concurrently within a stage, reporting a change set (created / configured /
// unchanged) per object. Conflicts with other field managers and objects managed by Flux
// are reported and left alone unless forced. It also waits for readiness with kstatus and
// removes what it created. It knows nothing of the bundle's contents.
package apply

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// FieldManager is the server-side apply field manager of everything the plugin applies.
const FieldManager = "kubectl-picluster"

// CreatedAnnotation marks objects that an apply created (as opposed to objects that existed
// and were taken over): uninstall deletes only those. It is kept on every later apply.
const CreatedAnnotation = "picluster.io/created-by"

// DryRun is kubectl's --dry-run: none, client or server.
type DryRun string

// The dry-run modes.
const (
	DryRunNone   DryRun = "none"
	DryRunClient DryRun = "client"
	DryRunServer DryRun = "server"
)

// ParseDryRun reads --dry-run; an empty value means none.
func ParseDryRun(s string) (DryRun, error) {
	switch DryRun(s) {
	case "", DryRunNone:
		return DryRunNone, nil
	case DryRunClient, DryRunServer:
		return DryRun(s), nil
	}
	return "", fmt.Errorf("invalid --dry-run %q: use none, client or server", s)
}

// Applier applies, waits for and deletes objects through the dynamic client.
type Applier struct {
	// Client talks to the API server.
	Client dynamic.Interface
	// Mapper maps kinds to resources; it is reset after CRDs are applied.
	Mapper meta.ResettableRESTMapper
	// Discovery lists the namespaced resources when uninstall checks what a namespace holds.
	Discovery discovery.DiscoveryInterface
	// FieldManager defaults to FieldManager.
	FieldManager string
	// Concurrency bounds the requests in flight (default 16).
	Concurrency int
	// Progress receives progress lines (stderr); nil discards them.
	Progress io.Writer
}

// clientQPS lifts client-go's default 5 requests per second, which would serialise the
// concurrent apply; the API server's own priority and fairness still protects it.
const (
	clientQPS   = 200
	clientBurst = 400
)

// New returns an Applier for cfg with a fresh (in-memory) discovery cache, so the CRD check
// sees the cluster as it is now.
func New(cfg *rest.Config, progress io.Writer) (*Applier, error) {
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = clientQPS, clientBurst
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("create dynamic client: %w", err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("create discovery client: %w", err)
	}
	cached := memory.NewMemCacheClient(dc)
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(cached)
	return &Applier{Client: dyn, Mapper: mapper, Discovery: cached, Progress: progress}, nil
}

func (a *Applier) fieldManager() string {
	if a.FieldManager != "" {
		return a.FieldManager
	}
	return FieldManager
}

func (a *Applier) logf(format string, args ...any) {
	if a.Progress != nil {
		fmt.Fprintf(a.Progress, format+"\n", args...)
	}
}

// parallel runs fn(0..n-1) with at most Concurrency calls in flight.
func (a *Applier) parallel(n int, fn func(i int)) {
	limit := a.Concurrency
	if limit <= 0 {
		limit = 16
	}
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			fn(i)
		}()
	}
	wg.Wait()
}

// resource returns the client for obj's resource, namespaced when the kind is.
func (a *Applier) resource(m *meta.RESTMapping, namespace string) dynamic.ResourceInterface {
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return a.Client.Resource(m.Resource).Namespace(namespace)
	}
	return a.Client.Resource(m.Resource)
}

// RefusedError says objects are managed by Flux and were left alone; nothing was applied.
type RefusedError struct{ Changes []Change }

func (e *RefusedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d object(s) are managed by Flux and were not taken over; nothing was applied:", len(e.Changes))
	for _, c := range e.Changes {
		fmt.Fprintf(&b, "\n  - %s: %s", c.ID(), c.Message)
	}
	b.WriteString("\nFlux would revert the plugin's changes. To manage the bundle with GitOps, commit the output of" +
		" `kubectl picluster install --export` to your Flux repository; to take the objects over anyway, re-run with --force-conflicts")
	return b.String()
}

// ApplyError lists the objects that conflicted or failed; the others were applied.
type ApplyError struct {
	Conflicts []Change
	Failures  []Change
}

func (e *ApplyError) Error() string {
	var b strings.Builder
	if n := len(e.Conflicts); n > 0 {
		fmt.Fprintf(&b, "%d object(s) have fields owned by another field manager; they were not changed:", n)
		for _, c := range e.Conflicts {
			fmt.Fprintf(&b, "\n  - %s: %s", c.ID(), c.Message)
		}
		b.WriteString("\nre-run with --force-conflicts to take those fields over")
	}
	if n := len(e.Failures); n > 0 {
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%d object(s) could not be applied:", n)
		for _, c := range e.Failures {
			fmt.Fprintf(&b, "\n  - %s: %s", c.ID(), c.Message)
		}
	}
	return b.String()
}
