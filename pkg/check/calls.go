package check

import (
	"io"
	"net/http"
	"sync"
	"time"
)

// CallRecorder times the HTTP calls that pass through the transports it wraps
// (Kubernetes, Prometheus, Alertmanager), from the request until the body is
// closed, so a run can report its slowest call next to its wall time.
type CallRecorder struct {
	mu          sync.Mutex
	count       int
	slowest     time.Duration
	slowestCall string
}

// Wrap returns rt with every round trip recorded.
func (r *CallRecorder) Wrap(rt http.RoundTripper) http.RoundTripper {
	if rt == nil {
		rt = http.DefaultTransport
	}
	return &recordingTransport{next: rt, rec: r}
}

// Reset forgets what was recorded.
func (r *CallRecorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.count, r.slowest, r.slowestCall = 0, 0, ""
}

// Stats returns what was recorded since the last Reset.
func (r *CallRecorder) Stats() *CallStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return &CallStats{Count: r.count, Slowest: r.slowest, SlowestCall: r.slowestCall}
}

func (r *CallRecorder) record(method, path string, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.count++
	if d > r.slowest {
		r.slowest, r.slowestCall = d, method+" "+path
	}
}

type recordingTransport struct {
	next http.RoundTripper
	rec  *CallRecorder
}

func (t *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	began := time.Now()
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.Body == nil {
		t.rec.record(req.Method, req.URL.Path, time.Since(began))
		return resp, err
	}
	resp.Body = &timedBody{ReadCloser: resp.Body, done: func() { t.rec.record(req.Method, req.URL.Path, time.Since(began)) }}
	return resp, nil
}

// timedBody records its call when the body is closed (once).
type timedBody struct {
	io.ReadCloser
	once sync.Once
	done func()
}

func (b *timedBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.done)
	return err
}
