package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Verification is what verify read from a dump on the NAS.
type Verification struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
	// Checksum is true: a dump whose checksum differs fails verify.
	Checksum bool `json:"checksumMatches"`
	// Entries is the number of entries of the archive's table of contents.
	Entries int `json:"entries"`
	// TablesWithData are the tables (schema.name) whose rows the archive holds.
	TablesWithData []string `json:"tablesWithData"`
	PgDumpVersion  string   `json:"pgDumpVersion"`
	ServerVersion  string   `json:"serverVersion"`
}

// Verify fetches the dump name (or latest) from the NAS in a short-lived Job, checks
// it against its sha256 (the bundled script's fetch mode, with the upload image and
// the SSH Secret) and reads it with pg_restore --list (the backup image); a missing,
// corrupt or truncated dump, or a checksum that differs, fails with the reason.
func (c *Client) Verify(ctx context.Context, name string) (*Verification, error) {
	cj, err := c.GetCronJob(ctx)
	if err != nil {
		return nil, err
	}
	fetch, err := TemplateContainer(cj, UploadContainer)
	if err != nil {
		return nil, err
	}
	fetch.Name = "fetch"
	fetch.Command = []string{"/bin/sh", "/opt/backup/backup.sh", "fetch", name}
	fetch.Args = nil
	check, err := TemplateContainer(cj, DumpContainer)
	if err != nil {
		return nil, err
	}
	check.Name = "verify"
	// pg_restore --list reads the file only: no connection, no password.
	check.Env = []corev1.EnvVar{{Name: "HOME", Value: "/tmp"}}
	check.Command = []string{"/bin/sh", "-c", `set -e
for f in /work/*.pgdump; do :; done
[ -f "$f" ] || { echo "verify: no dump fetched" >&2; exit 1; }
echo "; File: ${f##*/} $(wc -c <"$f")"
pg_restore --list "$f" || { echo "verify: pg_restore --list cannot read ${f##*/}: corrupt or truncated" >&2; exit 1; }`}
	check.Args = nil
	out, err := c.runTool(ctx, ToolJob(cj, "verify", []corev1.Container{fetch}, []corev1.Container{check}), check.Name)
	if err != nil {
		if unknown := c.UnknownDump(ctx, name, err); unknown != nil {
			return nil, unknown
		}
		return nil, fmt.Errorf("verify dump %s: %w", name, err)
	}
	v := ParseTOC(out)
	if v.Name == "" || v.PgDumpVersion == "" {
		return nil, fmt.Errorf("verify dump %s: the verify Job printed no archive listing", name)
	}
	return v, nil
}

// ParseTOC reads verify's output: a "; File: NAME SIZE" line, then pg_restore --list.
func ParseTOC(out string) *Verification {
	v := &Verification{Checksum: true, TablesWithData: []string{}}
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, ";") {
			body := strings.TrimSpace(strings.TrimPrefix(line, ";"))
			switch {
			case strings.HasPrefix(body, "File: "):
				f := strings.Fields(strings.TrimPrefix(body, "File: "))
				if len(f) == 2 {
					v.Name = f[0]
					v.Size, _ = strconv.ParseInt(f[1], 10, 64)
				}
			case strings.HasPrefix(body, "Dumped from database version:"):
				v.ServerVersion = strings.TrimSpace(strings.TrimPrefix(body, "Dumped from database version:"))
			case strings.HasPrefix(body, "Dumped by pg_dump version:"):
				v.PgDumpVersion = strings.TrimSpace(strings.TrimPrefix(body, "Dumped by pg_dump version:"))
			}
			continue
		}
		v.Entries++
		// 3340; 0 16385 TABLE DATA public assets postgres
		if i := strings.Index(line, " TABLE DATA "); i >= 0 {
			if f := strings.Fields(line[i+len(" TABLE DATA "):]); len(f) >= 2 {
				v.TablesWithData = append(v.TablesWithData, f[0]+"."+f[1])
			}
		}
	}
	return v
}

// PrintVerification writes the verification as text.
func PrintVerification(w io.Writer, v *Verification) error {
	_, err := fmt.Fprintf(w, "dump:             %s (%d bytes)\nchecksum:         matches\narchive entries:  %d\ntables with data: %d (%s)\npg_dump version:  %s\nserver version:   %s\n",
		v.Name, v.Size, v.Entries, len(v.TablesWithData), strings.Join(v.TablesWithData, ", "), v.PgDumpVersion, v.ServerVersion)
	return err
}

// ErrUnknownDump is a dump name the NAS does not have at all (a typo, most likely; a dump
// that is there without its checksum is a failed upload instead).
var ErrUnknownDump = errors.New("no such dump on the NAS")

// UnknownDump tells, after the fetch failed, whether name is not on the NAS at all, and
// then names the nearest dump there (a second short-lived Job lists them).
func (c *Client) UnknownDump(ctx context.Context, name string, fetchErr error) error {
	var f *Failure
	if name == "latest" || !errors.As(fetchErr, &f) || !strings.Contains(strings.Join(f.LastLines, "\n"), "no complete dump "+name) {
		return nil
	}
	dumps, err := c.List(ctx)
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(dumps))
	for _, d := range dumps {
		if d.Name == name {
			return nil // there, without its checksum: the fetch error says so
		}
		names = append(names, d.Name)
	}
	hint := ""
	if near := Nearest(name, names); near != "" {
		hint = "; did you mean " + near + "?"
	}
	return fmt.Errorf("%w: %s%s (kubectl picluster backup list shows them)", ErrUnknownDump, name, hint)
}

// Nearest is the name closest to want by edit distance ("" when there is none).
func Nearest(want string, names []string) string {
	best, bestD := "", -1
	for _, n := range names {
		if d := editDistance(want, n); bestD < 0 || d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

// editDistance is Levenshtein's distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
