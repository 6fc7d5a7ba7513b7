package factory

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/picluster/kubectl-picluster/internal/testbed/servers"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
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
	client, err := f.Prometheus()
	require.NoError(t, err)
	api := client.API

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

	again, err := f.Prometheus()
	require.NoError(t, err)
	assert.Same(t, client, again, "built once")
	e := client.Endpoint
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
	st, err := c.Status(ctx)
	require.NoError(t, err)
	require.NotNil(t, st.VersionInfo.Version)
	assert.NotEmpty(t, *st.VersionInfo.Version)
	assert.Contains(t, *st.Config.Original, "sink")
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
				c, cerr := f.Prometheus()
				require.NoError(t, cerr)
				_, _, _, err = c.API.Query(ctx, "up", time.Now())
			} else {
				c, cerr := f.Alertmanager()
				require.NoError(t, cerr)
				_, err = c.Status(ctx)
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
