package endpoint

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"

	"github.com/picluster/kubectl-picluster/pkg/exitcode"
)

func TestServiceProxyURL(t *testing.T) {
	tests := map[string]struct {
		host string
		want string
	}{
		"plain":       {host: "https://127.0.0.1:6443", want: "https://127.0.0.1:6443/api/v1/namespaces/monitoring/services/prometheus-operated:web/proxy"},
		"path prefix": {host: "https://rancher.example.test/k8s/clusters/c-1", want: "https://rancher.example.test/k8s/clusters/c-1/api/v1/namespaces/monitoring/services/prometheus-operated:web/proxy"},
		"bare host":   {host: "127.0.0.1:6443", want: "https://127.0.0.1:6443/api/v1/namespaces/monitoring/services/prometheus-operated:web/proxy"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e, err := ServiceProxy(&rest.Config{Host: tc.host, BearerToken: "secret-token"}, "Prometheus", "monitoring",
				"prometheus-operated", "web", time.Second)
			require.NoError(t, err)
			assert.Equal(t, tc.want, e.BaseURL.String())
			assert.Equal(t, tc.want+"/api/v1/query", e.URL("/api/v1/query"))
			assert.NotContains(t, e.Via, "secret-token")
		})
	}
}

// TestProxyRefusals checks that the API server's own answers (as opposed to the
// proxied server's) become connection errors, with a stand-in for the API server:
// this is the pure classification logic; the real proxy is exercised on the test bed.
func TestProxyRefusals(t *testing.T) {
	status := func(code int, msg string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":%q,"code":%d}`, msg, code)
		}
	}
	tests := map[string]struct {
		handler http.HandlerFunc
		method  string
		wantErr string
	}{
		"no endpoints": {handler: status(503, `no endpoints available for service "prometheus-operated"`), method: http.MethodGet, wantErr: "no endpoints available"},
		"forbidden":    {handler: status(403, `services "prometheus-operated" is forbidden`), method: http.MethodGet, wantErr: "forbidden"},
		"not found":    {handler: status(404, `services "prometheus-operated" not found`), method: http.MethodGet, wantErr: "not found"},
		"forbidden POST is left to the client's GET fallback": {handler: status(403, "forbidden"), method: http.MethodPost},
		"the server's own error passes": {handler: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			fmt.Fprint(w, `{"status":"error","errorType":"bad_data","error":"parse error"}`)
		}, method: http.MethodGet},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			c := &http.Client{Transport: &classify{next: http.DefaultTransport, name: "Prometheus", via: "service monitoring/prometheus-operated:web", proxied: true}}
			req, err := http.NewRequest(tc.method, srv.URL+"/api/v1/query", nil)
			require.NoError(t, err)
			resp, err := c.Do(req)
			if tc.wantErr == "" {
				require.NoError(t, err)
				resp.Body.Close()
				return
			}
			require.Error(t, err)
			var ce *ConnectionError
			require.True(t, errors.As(err, &ce))
			assert.Contains(t, err.Error(), tc.wantErr)
			assert.Contains(t, err.Error(), "service monitoring/prometheus-operated:web")
			assert.Equal(t, exitcode.Usage, exitcode.Code(err))
		})
	}
}
