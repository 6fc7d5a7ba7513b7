package podrun

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
)

func TestExpandAsTheKubelet(t *testing.T) {
	vars := map[string]string{"A": "1", "POD": "web-0"}
	for in, want := range map[string]string{
		"$(A)":             "1",
		"x-$(POD)-y":       "x-web-0-y",
		"$(MISSING)":       "$(MISSING)",
		"$$(A)":            "$(A)",
		"$A and $":         "$A and $",
		"$(A":              "$(A",
		"$(A)$(A)$$$(A)":   "11$1",
		"no references":    "no references",
		"trailing dollar$": "trailing dollar$",
	} {
		assert.Equal(t, want, expand(in, vars), in)
	}
}

func TestTableRunsOnlyPodsWhoseEveryImageIsKnown(t *testing.T) {
	tb := table(Images(15))
	pod := func(images ...string) *corev1.Pod {
		p := &corev1.Pod{}
		for i, im := range images {
			c := corev1.Container{Name: string(rune('a' + i)), Image: im}
			if i == 0 {
				p.Spec.InitContainers = append(p.Spec.InitContainers, c)
			} else {
				p.Spec.Containers = append(p.Spec.Containers, c)
			}
		}
		return p
	}
	assert.True(t, tb.runs(pod("postgres:15.15-alpine3.23", "instrumentisto/rsync-ssh:alpine3.23-r3")))
	assert.True(t, tb.runs(pod("docker.io/library/postgres:15", "alpine:3.23")))
	assert.False(t, tb.runs(pod("postgres:14.20-alpine3.23", "alpine")), "another major is another pg_dump")
	assert.False(t, tb.runs(pod("postgres:150", "alpine")))
	assert.False(t, tb.runs(pod("alpine", "ghcr.io/immich-app/immich-server:v1.135.3")))
	assert.False(t, tb.runs(pod("evil.example/alpine:3", "alpine")))
	assert.False(t, tb.runs(&corev1.Pod{}))
	assert.Contains(t, KwokSelector(Images(15)), `all(test("`)
}

func TestCRILogRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	l, err := newCRILog(path)
	require.NoError(t, err)
	l.copyFrom("stdout", strings.NewReader("one\ntwo\nno newline"))
	l.copyFrom("stderr", strings.NewReader("err\n"))
	require.NoError(t, l.close())
	done := make(chan struct{})
	close(done)
	var out bytes.Buffer
	require.NoError(t, serveLog(context.Background(), &out, path, logOptions{TailLines: -1}, done))
	assert.Equal(t, "one\ntwo\nno newline\nerr\n", out.String())
	out.Reset()
	require.NoError(t, serveLog(context.Background(), &out, path, logOptions{TailLines: 2}, done))
	assert.Equal(t, "no newline\nerr\n", out.String())
	out.Reset()
	require.NoError(t, serveLog(context.Background(), &out, path, logOptions{TailLines: -1, LimitBytes: 5}, done))
	assert.Equal(t, "one\nt", out.String(), "limitBytes cuts the text at 5 bytes")
	assert.Equal(t, "err", logText(path, 1))
}

func TestFollowEndsWhenTheRunEnds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	l, err := newCRILog(path)
	require.NoError(t, err)
	done := make(chan struct{})
	r, w, err := os.Pipe()
	require.NoError(t, err)
	go func() {
		l.copyFrom("stdout", r)
		_ = l.close()
		close(done)
	}()
	result := make(chan string)
	go func() {
		var out bytes.Buffer
		_ = serveLog(context.Background(), &out, path, logOptions{Follow: true, TailLines: -1}, done)
		result <- out.String()
	}()
	_, _ = w.WriteString("first\n")
	_, _ = w.WriteString("last\n")
	require.NoError(t, w.Close())
	select {
	case got := <-result:
		assert.Equal(t, "first\nlast\n", got)
	case <-time.After(10 * time.Second):
		t.Fatal("follow did not end with the run")
	}
}

func TestParseLogOptionsRefusesBadValues(t *testing.T) {
	_, err := parseLogOptions(map[string][]string{"tailLines": {"x"}})
	require.Error(t, err)
	o, err := parseLogOptions(map[string][]string{"follow": {"true"}, "tailLines": {"3"}, "timestamps": {"true"}})
	require.NoError(t, err)
	assert.Equal(t, logOptions{Follow: true, Timestamps: true, TailLines: 3}, o)
}
