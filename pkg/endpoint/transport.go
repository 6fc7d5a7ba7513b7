package endpoint

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/picluster/kubectl-picluster/pkg/exitcode"
)

// ConnectionError says that Prometheus or Alertmanager could not be reached, and
// how it was tried. It exits 2, or 124 when the attempt timed out.
type ConnectionError struct {
	// Name is what could not be reached: "Prometheus" or "Alertmanager".
	Name string
	// Via is how it was tried (a URL or the service proxy), without credentials.
	Via string
	// Err is the failure.
	Err error
}

func (e *ConnectionError) Error() string {
	return fmt.Sprintf("cannot reach %s (%s): %v", e.Name, e.Via, e.Err)
}

// Unwrap returns the underlying failure.
func (e *ConnectionError) Unwrap() error { return e.Err }

// ExitCode is 124 for a timeout and 2 for anything else.
func (e *ConnectionError) ExitCode() int {
	if exitcode.IsTimeout(e.Err) {
		return exitcode.Timeout
	}
	return exitcode.Usage
}

// classify turns transport failures, and the API server proxy's own refusals (no
// endpoints, no such service, forbidden), into ConnectionErrors. Answers from the
// server itself pass through untouched, whatever their status.
type classify struct {
	next    http.RoundTripper
	name    string
	via     string
	proxied bool
}

func (c *classify) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req)
	if err != nil {
		return nil, &ConnectionError{Name: c.name, Via: c.via, Err: err}
	}
	if !c.proxied || resp.StatusCode < 400 {
		return resp, nil
	}
	// The Prometheus client retries a refused POST as a GET: leave those to it, so
	// that a user allowed only to `get` services/proxy can still query.
	if req.Method == http.MethodPost && (resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusMethodNotAllowed) {
		return resp, nil
	}
	msg, isStatus, err := apiServerStatus(resp)
	if err != nil {
		return nil, &ConnectionError{Name: c.name, Via: c.via, Err: err}
	}
	if !isStatus {
		return resp, nil
	}
	return nil, &ConnectionError{Name: c.name, Via: c.via, Err: errors.New(msg)}
}

// apiServerStatus reads resp's body and reports whether it is a Kubernetes Status
// (the API server answering instead of the proxied server). The body is restored
// for the caller when it is not.
func apiServerStatus(resp *http.Response) (string, bool, error) {
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		return "", false, nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return "", false, fmt.Errorf("read response: %w", err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var st struct {
		Kind    string `json:"kind"`
		Message string `json:"message"`
		Reason  string `json:"reason"`
	}
	if json.Unmarshal(body, &st) != nil || st.Kind != "Status" {
		return "", false, nil
	}
	msg := st.Message
	if msg == "" {
		msg = st.Reason
	}
	return fmt.Sprintf("the API server answered %s: %s", resp.Status, msg), true, nil
}
