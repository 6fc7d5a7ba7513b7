package podrun

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// criLog writes a container run's output in the CRI log format a kubelet reads
// ("<RFC3339Nano time> <stdout|stderr> <F|P> <text>"), one file per run.
type criLog struct {
	mu sync.Mutex
	f  *os.File
}

func newCRILog(path string) (*criLog, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("make container log: %w", err)
	}
	return &criLog{f: f}, nil
}

// copyFrom copies a stream into the log line by line (a last line without newline is
// written as a full line when the stream ends) and returns at EOF.
func (l *criLog) copyFrom(stream string, r io.Reader) {
	br := bufio.NewReaderSize(r, 16<<10)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			tag := "P"
			if line[len(line)-1] == '\n' {
				tag, line = "F", line[:len(line)-1]
			} else if err != nil && err != bufio.ErrBufferFull {
				tag = "F"
			}
			l.write(stream, tag, line)
		}
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
	}
}

func (l *criLog) write(stream, tag string, text []byte) {
	var b bytes.Buffer
	b.WriteString(time.Now().UTC().Format(time.RFC3339Nano))
	b.WriteString(" " + stream + " " + tag + " ")
	b.Write(text)
	b.WriteByte('\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = l.f.Write(b.Bytes())
}

func (l *criLog) close() error { return l.f.Close() }

// logOptions are the kubelet's containerLogs query parameters this runtime serves.
type logOptions struct {
	Follow, Timestamps bool
	TailLines          int64 // -1: all
	LimitBytes         int64 // 0: no limit
	Since              time.Time
}

// parseLogOptions reads follow, timestamps, tailLines, limitBytes, sinceSeconds, sinceTime.
func parseLogOptions(q map[string][]string) (logOptions, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	o := logOptions{Follow: get("follow") == "true", Timestamps: get("timestamps") == "true", TailLines: -1}
	if v := get("tailLines"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return o, fmt.Errorf("tailLines %q: not a count", v)
		}
		o.TailLines = n
	}
	if v := get("limitBytes"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return o, fmt.Errorf("limitBytes %q: not a positive count", v)
		}
		o.LimitBytes = n
	}
	if v := get("sinceSeconds"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return o, fmt.Errorf("sinceSeconds %q: not a positive count", v)
		}
		o.Since = time.Now().Add(-time.Duration(n) * time.Second)
	}
	if v := get("sinceTime"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return o, fmt.Errorf("sinceTime %q: %w", v, err)
		}
		o.Since = t
	}
	return o, nil
}

// criLine is one parsed line of a CRI log.
type criLine struct {
	t    time.Time
	ts   string
	full bool
	text []byte
}

func parseCRILine(line []byte) (criLine, bool) {
	parts := bytes.SplitN(line, []byte(" "), 4)
	if len(parts) < 4 {
		return criLine{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(parts[0]))
	if err != nil {
		return criLine{}, false
	}
	return criLine{t: t, ts: string(parts[0]), full: string(parts[2]) == "F", text: parts[3]}, true
}

// serveLog writes a CRI log file as the kubelet does: the text of each line (with its time
// when asked), the last tailLines lines, since a time, at most limitBytes; following, it
// waits for more until done is closed (the container run ended) and all is written, or ctx
// ends.
func serveLog(ctx context.Context, w io.Writer, path string, o logOptions, done <-chan struct{}) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var written int64
	emit := func(l criLine) (bool, error) {
		if !o.Since.IsZero() && l.t.Before(o.Since) {
			return true, nil
		}
		var b []byte
		if o.Timestamps {
			b = append(b, l.ts+" "...)
		}
		b = append(b, l.text...)
		if l.full {
			b = append(b, '\n')
		}
		if o.LimitBytes > 0 && written+int64(len(b)) > o.LimitBytes {
			b = b[:o.LimitBytes-written]
		}
		n, err := w.Write(b)
		written += int64(n)
		if fl, ok := w.(interface{ Flush() }); ok {
			fl.Flush()
		}
		return err == nil && (o.LimitBytes == 0 || written < o.LimitBytes), err
	}
	br := bufio.NewReader(f)
	// What is there now (kept to the last tailLines lines).
	var lines []criLine
	var pending []byte
	readAvailable := func() []criLine {
		var got []criLine
		for {
			chunk, err := br.ReadBytes('\n')
			pending = append(pending, chunk...)
			if err != nil {
				return got
			}
			if l, ok := parseCRILine(bytes.TrimSuffix(pending, []byte("\n"))); ok {
				got = append(got, l)
			}
			pending = nil
		}
	}
	lines = readAvailable()
	if o.TailLines >= 0 && int64(len(lines)) > o.TailLines {
		lines = lines[int64(len(lines))-o.TailLines:]
	}
	for _, l := range lines {
		if more, err := emit(l); !more || err != nil {
			return err
		}
	}
	if !o.Follow {
		return nil
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ended := false
		select {
		case <-ctx.Done():
			return nil
		case <-done:
			ended = true
		case <-tick.C:
		}
		for _, l := range readAvailable() {
			if more, err := emit(l); !more || err != nil {
				return err
			}
		}
		if ended {
			return nil
		}
	}
}

// logText is the text of a CRI log (for termination messages): the last n lines.
func logText(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	var out []string
	for _, line := range bytes.Split(data, []byte("\n")) {
		if l, ok := parseCRILine(line); ok {
			out = append(out, string(l.text))
		}
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return strings.Join(out, "\n")
}
