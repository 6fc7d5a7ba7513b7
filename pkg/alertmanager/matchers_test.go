package alertmanager

import (
	"testing"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picluster/kubectl-picluster/pkg/exitcode"
)

func TestParseMatchers(t *testing.T) {
	tests := map[string]struct {
		args    []string
		want    string // FormatMatchers of the result
		wantErr string
	}{
		"equal":                    {args: []string{"alertname=Foo"}, want: `alertname="Foo"`},
		"quoted regex":             {args: []string{`severity=~"warn.*"`}, want: `severity=~"warn.*"`},
		"not equal":                {args: []string{"team!=infra"}, want: `team!="infra"`},
		"not regex":                {args: []string{`job!~"x|y"`}, want: `job!~"x|y"`},
		"spaces around operator":   {args: []string{`namespace = "immich"`}, want: `namespace="immich"`},
		"bare first word":          {args: []string{"ImmichDown"}, want: `alertname="ImmichDown"`},
		"bare word then matchers":  {args: []string{"ImmichDown", "severity=critical"}, want: `alertname="ImmichDown" severity="critical"`},
		"bare word with dash":      {args: []string{"Immich-Down_2"}, want: `alertname="Immich-Down_2"`},
		"several matchers":         {args: []string{"a=b", `c=~"d.*"`}, want: `a="b" c=~"d.*"`},
		"amtool's trap":            {args: []string{"alertname=~("}, wantErr: `invalid matcher "alertname=~("`},
		"unbalanced quote":         {args: []string{`alertname="Foo`}, wantErr: "invalid matcher"},
		"bad regex":                {args: []string{`job=~"[a-"`}, wantErr: `invalid matcher "job=~\"[a-\"": its regular expression does not parse (invalid character class range)`},
		"bad regex, no Go text":    {args: []string{"alertname=~[)"}, wantErr: `invalid matcher "alertname=~[)": its regular expression does not parse (missing closing ])`},
		"operator only":            {args: []string{"="}, wantErr: "invalid matcher"},
		"bang without name":        {args: []string{"!Foo"}, wantErr: "invalid matcher"},
		"bare word not first":      {args: []string{"a=b", "Foo"}, wantErr: "only the first argument may be a bare alertname"},
		"two words in one arg":     {args: []string{"High CPU"}, wantErr: "invalid matcher"},
		"braces":                   {args: []string{`{alertname="Foo"}`}, wantErr: "invalid matcher"},
		"two matchers in one arg":  {args: []string{`a="b",c="d"`}, wantErr: "invalid matcher"},
		"empty argument":           {args: []string{""}, wantErr: "invalid matcher"},
		"tilde but no valid match": {args: []string{"foo~bar"}, wantErr: "invalid matcher"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ms, err := ParseMatchers(tc.args)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				assert.Equal(t, exitcode.Usage, exitcode.Code(err))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, FormatMatchers(ms))
		})
	}
}

func TestCheckSilenceMatchers(t *testing.T) {
	tests := map[string]struct {
		args    []string
		wantErr string
	}{
		"fine":                     {args: []string{"alertname=Foo"}},
		"one narrowing is enough":  {args: []string{`alertname=~".*"`, "namespace=immich"}},
		"none":                     {args: nil, wantErr: "no matchers"},
		"matches everything":       {args: []string{`alertname=~".*"`}, wantErr: "would silence every alert"},
		"matches absent label":     {args: []string{`team=""`}, wantErr: "would silence every alert"},
		"negative matches absence": {args: []string{"team!=infra"}, wantErr: "would silence every alert"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ms, err := ParseMatchers(tc.args)
			require.NoError(t, err)
			err = CheckSilenceMatchers(ms)
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
			assert.Equal(t, exitcode.Usage, exitcode.Code(err))
		})
	}
}

func TestAPIMatchersRoundTrip(t *testing.T) {
	tests := map[string]struct {
		arg              string
		isEqual, isRegex bool
	}{
		"equal":     {arg: "a=b", isEqual: true},
		"not equal": {arg: "a!=b"},
		"regex":     {arg: `a=~"b.*"`, isEqual: true, isRegex: true},
		"not regex": {arg: `a!~"b.*"`, isRegex: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ms, err := ParseMatchers([]string{tc.arg})
			require.NoError(t, err)
			api := APIMatchers(ms)
			require.Len(t, api, 1)
			assert.Equal(t, tc.isEqual, *api[0].IsEqual)
			assert.Equal(t, tc.isRegex, *api[0].IsRegex)
			back, err := FromAPIMatchers(api)
			require.NoError(t, err)
			assert.True(t, SameMatchers(ms, back))
			assert.Equal(t, FormatMatchers(ms), FormatAPIMatchers(api))
		})
	}
}

func TestSameMatchers(t *testing.T) {
	parse := func(args ...string) []string { return args }
	tests := map[string]struct {
		a, b []string
		same bool
	}{
		"same order":       {a: parse("a=b", "c=d"), b: parse("a=b", "c=d"), same: true},
		"other order":      {a: parse("a=b", "c=d"), b: parse("c=d", "a=b"), same: true},
		"other value":      {a: parse("a=b"), b: parse("a=c")},
		"other operator":   {a: parse("a=b"), b: parse("a!=b")},
		"one more matcher": {a: parse("a=b"), b: parse("a=b", "c=d")},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			a, err := ParseMatchers(tc.a)
			require.NoError(t, err)
			b, err := ParseMatchers(tc.b)
			require.NoError(t, err)
			assert.Equal(t, tc.same, SameMatchers(a, b))
		})
	}
}

func TestFormatMatchesUpstream(t *testing.T) {
	tests := map[string]struct {
		t           labels.MatchType
		name, value string
	}{
		"plain":            {t: labels.MatchEqual, name: "alertname", value: "Foo"},
		"quote, backslash": {t: labels.MatchNotEqual, name: "msg", value: `say "hi" \ bye`},
		"newline":          {t: labels.MatchRegexp, name: "re", value: "a\nb|c.*"},
		"unicode":          {t: labels.MatchNotRegexp, name: "team", value: "équipe-✓"},
		"reserved in name": {t: labels.MatchEqual, name: "foo bar", value: "x\ty"},
		"utf-8 name":       {t: labels.MatchEqual, name: "föö", value: "1"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m, err := labels.NewMatcher(tc.t, tc.name, tc.value)
			require.NoError(t, err)
			assert.Equal(t, m.String(), FormatMatchers(labels.Matchers{m}))
			assert.Equal(t, m.String(), FormatAPIMatchers(APIMatchers(labels.Matchers{m})))
		})
	}
}
