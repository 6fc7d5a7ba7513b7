package podrun

import (
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Image is one entry of the table of images the bed runs: the references it matches, the
// host programs that stand in for the image's, and the environment the image sets.
type Image struct {
	// Name says what the image is, for messages.
	Name string
	// Match matches the image references (repository and tag) this entry covers.
	Match *regexp.Regexp
	// Programs must exist on the host (looked up in PATH) for the entry to be usable.
	Programs []string
	// Env is the image's own environment (its ENV lines), before the container's; LANG is
	// Debian's C.UTF-8 where the image has a locale the host lacks.
	Env []string
}

// defaultPath is the PATH of the Alpine-based images in the table.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Images is the table of images run pods may use. The Postgres image's major version must
// be the host's PostgreSQL client major (pg_dump of another major is another program);
// hostMajor is that major.
func Images(hostPostgresMajor int) []Image {
	return []Image{
		{
			Name: fmt.Sprintf("official Postgres %d image (Debian's PostgreSQL %d client tools)", hostPostgresMajor, hostPostgresMajor),
			// postgres:15, postgres:15.15-alpine3.23, docker.io/library/postgres:15...
			Match:    regexp.MustCompile(`^(docker\.io/)?(library/)?postgres:` + strconv.Itoa(hostPostgresMajor) + `([.-][^/]*)?(@sha256:[0-9a-f]+)?$`),
			Programs: []string{"sh", "pg_dump", "pg_restore", "psql", "sha256sum", "gzip"},
			Env:      []string{defaultPath, "LANG=C.UTF-8", "PGDATA=/var/lib/postgresql/data"},
		},
		{
			Name:     "instrumentisto/rsync-ssh (Debian's rsync and OpenSSH client)",
			Match:    regexp.MustCompile(`^(docker\.io/)?instrumentisto/rsync-ssh(:[^/]+)?(@sha256:[0-9a-f]+)?$`),
			Programs: []string{"sh", "rsync", "ssh", "sha256sum"},
			Env:      []string{defaultPath},
		},
		{
			Name:     "alpine / busybox (dash and coreutils)",
			Match:    regexp.MustCompile(`^(docker\.io/)?(library/)?(alpine|busybox)(:[^/]+)?(@sha256:[0-9a-f]+)?$`),
			Programs: []string{"sh", "cat", "sleep"},
			Env:      []string{defaultPath},
		},
	}
}

// HostPostgresMajor is the major version of the host's pg_dump.
func HostPostgresMajor() (int, error) {
	out, err := exec.Command("pg_dump", "--version").Output()
	if err != nil {
		return 0, fmt.Errorf("read the host's pg_dump version: %w", err)
	}
	// pg_dump (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)
	f := strings.Fields(string(out))
	if len(f) < 3 {
		return 0, fmt.Errorf("read the host's pg_dump version: unexpected %q", out)
	}
	major, err := strconv.Atoi(strings.SplitN(f[2], ".", 2)[0])
	if err != nil {
		return 0, fmt.Errorf("read the host's pg_dump version: unexpected %q", out)
	}
	return major, nil
}

// checkPrograms says which programs of the table the host lacks.
func checkPrograms(images []Image) error {
	var missing []string
	for _, im := range images {
		for _, p := range im.Programs {
			if _, err := exec.LookPath(p); err != nil {
				missing = append(missing, p+" ("+im.Name+")")
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the host lacks programs the run pods need: %s (hack/install-deps.sh installs them)", strings.Join(missing, ", "))
	}
	return nil
}

// table matches images against Images.
type table []Image

// lookup returns the entry for an image reference.
func (t table) lookup(image string) (Image, bool) {
	for _, im := range t {
		if im.Match.MatchString(image) {
			return im, true
		}
	}
	return Image{}, false
}

// runs says whether every container of the pod (init containers included) has an image of
// the table: only then does the pod run for real.
func (t table) runs(pod *corev1.Pod) bool {
	n := 0
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			if _, ok := t.lookup(c.Image); !ok {
				return false
			}
			n++
		}
	}
	return n > 0
}

// pattern is one regular expression matching every image of the table.
func (t table) pattern() string {
	parts := make([]string, len(t))
	for i, im := range t {
		parts[i] = "(" + im.Match.String() + ")"
	}
	return strings.Join(parts, "|")
}

// KwokSelector is the jq key of a Stage matchExpression that is "true" for the pods this
// runtime runs; add it with operator NotIn and values ["true"] to every pod Stage of kwok
// so that kwok leaves them alone. Go's regexp and gojq's test() share their syntax.
func KwokSelector(images []Image) string {
	re := table(images).pattern()
	quoted := strconv.Quote(re) // a JSON/jq string literal
	return `[(.spec.initContainers // [])[].image, (.spec.containers // [])[].image] | (length > 0) and all(test(` + quoted + `))`
}
