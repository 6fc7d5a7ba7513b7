package factory

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/api/v2/client/general"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/rest"

	"github.com/picluster/kubectl-picluster/internal/testbed/servers"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
	"github.com/picluster/kubectl-picluster/pkg/settings"
)

// newFactory returns a factory whose settings come from an empty folder, so tests
// never read the machine's own settings.
func newFactory(t *testing.T, o Options, requestTimeout string) *Factory {
	t.Helper()
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	flags := genericclioptions.NewConfigFlags(true)
	if requestTimeout != "" {
		*flags.Timeout = requestTimeout
	}
	return New(flags, &o)
}

const promConfig = `
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: self
    static_configs:
      - targets: ['%s']
`

func TestPrometheusURL(t *testing.T) {
	prom := servers.PrometheusT(t, servers.Options{}, "global: {scrape_interval: 1s}\n", nil)
	require.NoError(t, prom.Reload(context.Background(), fmt.Sprintf(promConfig, strings.TrimPrefix(prom.URL, "http://")), nil))

	f := newFactory(t, Options{PrometheusURL: prom.URL + "/"}, "")
	api, err := f.Prometheus()
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v, _, _, err := api.Query(ctx, "vector(42)", time.Now())
	require.NoError(t, err)
	vec := v.(model.Vector)
	require.Len(t, vec, 1)
	assert.Equal(t, model.SampleValue(42), vec[0].Value)

	// The self-scrape shows up as a target once Prometheus has scraped itself.
	require.Eventually(t, func() bool {
		targets, err := api.Targets(ctx)
		return err == nil && len(targets.Active) == 1 && targets.Active[0].Health == "up"
	}, 20*time.Second, 200*time.Millisecond)

	e, err := f.PrometheusEndpoint()
	require.NoError(t, err)
	resp, err := e.Client.Get(e.URL("/-/ready"))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestAlertmanagerURL(t *testing.T) {
	am := servers.AlertmanagerT(t, servers.Options{}, "route: {receiver: sink}\nreceivers: [{name: sink}]\n")
	f := newFactory(t, Options{AlertmanagerURL: am.URL}, "")
	c, err := f.Alertmanager()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := c.General.GetStatus(general.NewGetStatusParamsWithContext(ctx))
	require.NoError(t, err)
	require.NotNil(t, st.Payload.VersionInfo.Version)
	assert.NotEmpty(t, *st.Payload.VersionInfo.Version)
	assert.Contains(t, *st.Payload.Config.Original, "sink")
}

// closedPort returns an address on which nothing listens.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// silentServer accepts connections and never answers, like a hung server.
func silentServer(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(done)
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

func TestConnectionFailures(t *testing.T) {
	closed, silent := closedPort(t), silentServer(t)
	tests := map[string]struct {
		opts    Options
		timeout string
		code    int
		has     []string
		hasNot  []string
	}{
		"prometheus unreachable": {
			opts: Options{PrometheusURL: "http://" + closed}, code: exitcode.Usage,
			has: []string{"cannot reach Prometheus", closed, "connection refused"},
		},
		"alertmanager unreachable": {
			opts: Options{AlertmanagerURL: "http://" + closed}, code: exitcode.Usage,
			has: []string{"cannot reach Alertmanager", closed},
		},
		"prometheus hangs": {
			opts: Options{PrometheusURL: "http://" + silent}, timeout: "1s", code: exitcode.Timeout,
			has: []string{"cannot reach Prometheus", silent},
		},
		"alertmanager hangs": {
			opts: Options{AlertmanagerURL: "http://" + silent}, timeout: "1s", code: exitcode.Timeout,
			has: []string{"cannot reach Alertmanager", silent},
		},
		"credentials in the URL never shown": {
			opts: Options{PrometheusURL: "http://admin:hunter2@" + closed}, code: exitcode.Usage,
			has: []string{closed}, hasNot: []string{"hunter2"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFactory(t, tc.opts, tc.timeout)
			ctx := context.Background()
			var err error
			if tc.opts.PrometheusURL != "" {
				api, cerr := f.Prometheus()
				require.NoError(t, cerr)
				_, _, _, err = api.Query(ctx, "up", time.Now())
			} else {
				c, cerr := f.Alertmanager()
				require.NoError(t, cerr)
				_, err = c.General.GetStatus(general.NewGetStatusParamsWithContext(ctx))
			}
			require.Error(t, err)
			assert.Equal(t, tc.code, exitcode.Code(err), "%v", err)
			for _, s := range tc.has {
				assert.Contains(t, err.Error(), s)
			}
			for _, s := range tc.hasNot {
				assert.NotContains(t, err.Error(), s)
			}
		})
	}
}

func TestBadOverrides(t *testing.T) {
	tests := map[string]Options{
		"no scheme":    {PrometheusURL: "127.0.0.1:9090"},
		"other scheme": {AlertmanagerURL: "ftp://127.0.0.1"},
		"no host":      {PrometheusURL: "http://"},
	}
	for name, o := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFactory(t, o, "")
			var err error
			if o.PrometheusURL != "" {
				_, err = f.Prometheus()
				assert.Contains(t, err.Error(), "--prometheus-url")
			} else {
				_, err = f.Alertmanager()
				assert.Contains(t, err.Error(), "--alertmanager-url")
			}
			assert.Equal(t, exitcode.Usage, exitcode.Code(err))
		})
	}
	t.Run("bad request timeout", func(t *testing.T) {
		f := newFactory(t, Options{PrometheusURL: "http://127.0.0.1:1"}, "soon")
		_, err := f.Prometheus()
		require.Error(t, err)
		assert.Equal(t, exitcode.Usage, exitcode.Code(err))
		assert.Contains(t, err.Error(), "--request-timeout")
	})
}

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
			e, err := serviceProxyEndpoint(&rest.Config{Host: tc.host, BearerToken: "secret-token"}, "Prometheus", "monitoring",
				settings.ServiceRef{Service: "prometheus-operated", Port: "web"}, time.Second)
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

func TestSettingsErrorsAreUsage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.yaml")
	require.NoError(t, os.WriteFile(path, []byte("backup:\n  nas:\n    host: \"\"\n"), 0o600))
	f := newFactory(t, Options{ConfigPath: path}, "")
	_, err := f.Settings()
	require.Error(t, err)
	assert.Equal(t, exitcode.Usage, exitcode.Code(err))
	assert.Contains(t, err.Error(), "key backup.nas.host")
	// The service-proxy path needs settings, so it reports the same error.
	_, err = f.Prometheus()
	assert.Contains(t, err.Error(), "key backup.nas.host")
}
