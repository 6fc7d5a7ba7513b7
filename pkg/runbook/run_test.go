package runbook

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picluster/kubectl-picluster/pkg/exitcode"
	"github.com/picluster/kubectl-picluster/pkg/settings"
)

// fakePlugin records the commands it runs and answers with the exit codes given.
type fakePlugin struct {
	codes map[string]int
	ran   []string
}

func (f *fakePlugin) Check(args []string) (bool, error) {
	return args[0] == "silence", nil
}

func (f *fakePlugin) Run(_ context.Context, args []string, out io.Writer) error {
	cmd := strings.Join(args, " ")
	f.ran = append(f.ran, cmd)
	fmt.Fprintf(out, "ran %s\n", cmd)
	if code := f.codes[cmd]; code != 0 {
		return exitcode.WithCode(code, fmt.Errorf("%s failed", cmd))
	}
	return nil
}

// fakeProm answers every query with one sample.
type fakeProm struct{ value float64 }

func (f fakeProm) Vector(context.Context, string, time.Time) (model.Vector, error) {
	return model.Vector{{Metric: model.Metric{"namespace": "immich"}, Value: model.SampleValue(f.value)}}, nil
}

const testRunbook = "# X\n## Diagnosis\n" +
	"```promql title=\"depth\" problem=\"> 500\"\nsum(q)\n```\n" +
	"```picluster title=\"status\"\nkubectl picluster backup status\n```\n" +
	"## Mitigation\n" +
	"```picluster mutating title=\"silence\"\nkubectl picluster silence add X --duration 1h --comment c\n```\n"

func TestRunnerOutcomes(t *testing.T) {
	tests := map[string]struct {
		depth    float64
		codes    map[string]int
		readOnly bool
		yes      bool
		answer   bool
		want     []string // statuses of depth, status, silence
		code     int
	}{
		"all well, declined":    {depth: 3, want: []string{StatusOK, StatusOK, StatusDeclined}, code: 0},
		"backlog":               {depth: 612, want: []string{StatusProblem, StatusOK, StatusDeclined}, code: 1},
		"status exit 1":         {depth: 3, codes: map[string]int{"backup status": 1}, want: []string{StatusOK, StatusProblem, StatusDeclined}, code: 1},
		"status exit 2":         {depth: 612, codes: map[string]int{"backup status": 2}, want: []string{StatusProblem, StatusError, StatusDeclined}, code: 2},
		"read-only":             {depth: 3, readOnly: true, want: []string{StatusOK, StatusOK, StatusSkipped}, code: 0},
		"yes":                   {depth: 3, yes: true, want: []string{StatusOK, StatusOK, StatusOK}, code: 0},
		"asked and confirmed":   {depth: 3, answer: true, want: []string{StatusOK, StatusOK, StatusOK}, code: 0},
		"mitigation that fails": {depth: 3, yes: true, codes: map[string]int{"silence add X --duration 1h --comment c": 2}, want: []string{StatusOK, StatusOK, StatusError}, code: 2},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			d, err := Parse("X", testRunbook)
			require.NoError(t, err)
			plugin := &fakePlugin{codes: tc.codes}
			var asked []string
			var live strings.Builder
			r := &Runner{
				Plugin: plugin, Prometheus: fakeProm{tc.depth}, Data: Data{Settings: settings.Default()},
				ReadOnly: tc.readOnly, Yes: tc.yes, Live: &live,
				Ask: func(_ context.Context, prompt string) (bool, error) {
					asked = append(asked, prompt)
					return tc.answer, nil
				},
			}
			rep, err := r.Run(t.Context(), d)
			require.NoError(t, err)
			var got []string
			for _, s := range rep.Steps {
				got = append(got, s.Status)
			}
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.code, rep.ExitCode)
			if !tc.readOnly && !tc.yes {
				assert.Equal(t, []string{"Run `kubectl picluster silence add X --duration 1h --comment c`? [y/N] "}, asked)
			} else {
				assert.Empty(t, asked, "--read-only and --yes ask nothing")
			}
			ranSilence := len(plugin.ran) == 2
			assert.Equal(t, tc.want[2] == StatusOK || tc.want[2] == StatusError, ranSilence, "the mutation ran exactly when allowed: %v", plugin.ran)
			assert.Contains(t, live.String(), "    ran backup status\n", "output is shown as it comes, indented")
		})
	}
}

func TestRunnerChecksEveryStepFirst(t *testing.T) {
	d, err := Parse("X", testRunbook+"```kubectl\nkubectl delete pod x\n```\n")
	require.NoError(t, err)
	plugin := &fakePlugin{}
	_, err = (&Runner{Plugin: plugin, Prometheus: fakeProm{}, Data: Data{Settings: settings.Default()}, Yes: true}).Run(t.Context(), d)
	require.Error(t, err)
	assert.Equal(t, exitcode.Usage, exitcode.Code(err))
	assert.Empty(t, plugin.ran, "a bad step anywhere: nothing runs")
}

func TestLiveWriterIndentsAndEscapes(t *testing.T) {
	var b strings.Builder
	l := newLiveWriter(&b)
	_, _ = io.WriteString(l, "first\nsec")
	_, _ = io.WriteString(l, "ond \x1b[31mred\n")
	_, _ = io.WriteString(l, "Continue? [y/N] ")
	l.end()
	assert.Equal(t, "    first\n    second ^[[31mred\n    Continue? [y/N] \n", b.String())
}
