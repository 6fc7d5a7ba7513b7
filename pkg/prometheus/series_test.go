package prometheus

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSelectors(t *testing.T) {
	tests := map[string]struct {
		expr string
		want []string
	}{
		"plain comparison": {
			expr: `up{job="immich-metrics",namespace="immich"} == 0`,
			want: []string{`up{job="immich-metrics",namespace="immich"}`},
		},
		"absent is left out": {
			expr: `absent(up{job="immich-metrics"})`,
		},
		"absent_over_time is left out": {
			expr: `absent_over_time(foo[5m]) or bar`,
			want: []string{`bar`},
		},
		"offset and @ are dropped, duplicates folded": {
			expr: `rate(foo{a="b"}[5m] offset 1h) > rate(foo{a="b"}[5m] @ 1700000000)`,
			want: []string{`foo{a="b"}`},
		},
		"inside aggregations, functions and subqueries": {
			expr: `histogram_quantile(0.95, sum by (le) (rate(http_server_duration_bucket[5m]))) > max_over_time(x[1h:5m])`,
			want: []string{`http_server_duration_bucket`, `x`},
		},
		"no selectors at all": {
			expr: `vector(1)`,
		},
		"regex matchers are kept": {
			expr: `kube_job_status_failed{namespace="backup-jobs",job_name=~"postgres-backup-.*"} > 0`,
			want: []string{`kube_job_status_failed{job_name=~"postgres-backup-.*",namespace="backup-jobs"}`},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e, err := ParseExpr(tc.expr)
			require.NoError(t, err)
			assert.Equal(t, tc.want, e.Selectors())
		})
	}
}

func TestParseExprRefusesBadPromQL(t *testing.T) {
	_, err := ParseExpr(`sum(rate(foo[5m])`)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "parse PromQL")
}

func TestCanProduce(t *testing.T) {
	tests := map[string]struct {
		expr   string
		exists []string
		want   bool
	}{
		"selector exists":             {expr: `a > 1`, exists: []string{"a"}, want: true},
		"selector missing":            {expr: `a > 1`, want: false},
		"or needs either side":        {expr: `a > 1 or b > 1`, exists: []string{"b"}, want: true},
		"or with both missing":        {expr: `a > 1 or b > 1`, want: false},
		"and needs both":              {expr: `a and b`, exists: []string{"a"}, want: false},
		"unless needs the left side":  {expr: `a unless b`, exists: []string{"a"}, want: true},
		"unless without the left":     {expr: `a unless b`, exists: []string{"b"}, want: false},
		"arithmetic needs both":       {expr: `a / b > 0.5`, exists: []string{"b"}, want: false},
		"scalar side does not matter": {expr: `time() - a > 3600`, exists: []string{"a"}, want: true},
		"absent always can":           {expr: `absent(a)`, want: true},
		"vector(1) always can":        {expr: `vector(1)`, want: true},
		"aggregation of missing":      {expr: `sum by (namespace) (rate(a[5m])) > 0`, want: false},
		"the queue alert with a wrong gauge name": {
			expr:   `(sum(q) > 500) or (sum(q) > 0 unless sum(increase(s[5m])) > 0)`,
			exists: []string{"s"},
			want:   false,
		},
		"the thumbnail alert with one side missing": {
			expr:   `(sum(max_over_time(q[6h])) > 0 or sum(increase(f[6h])) > 0) unless sum(increase(s[6h])) > 0`,
			exists: []string{"f", "s"},
			want:   true,
		},
		"backup stale falls back to absent": {
			expr:   `time() - max(l) > 691200 or absent(c)`,
			exists: []string{},
			want:   true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e, err := ParseExpr(tc.expr)
			require.NoError(t, err)
			exists := map[string]bool{}
			for _, s := range tc.exists {
				exists[s] = true
			}
			assert.Equal(t, tc.want, e.CanProduce(exists))
		})
	}
}
