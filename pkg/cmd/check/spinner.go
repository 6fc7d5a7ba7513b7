package check

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"
)

// isTerminal tells whether w is a terminal.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// spinner shows progress on a terminal's stderr while the checks run; on anything
// else (a pipe, a file, cron) it shows nothing.
type spinner struct {
	w       io.Writer
	enabled bool

	mu          sync.Mutex
	done, total int
	stopCh      chan struct{}
	wg          sync.WaitGroup
}

var spinnerFrames = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

func newSpinner(w io.Writer, wanted bool) *spinner {
	return &spinner{w: w, enabled: wanted && isTerminal(w)}
}

func (s *spinner) start(total int) {
	if !s.enabled {
		return
	}
	s.stop()
	s.mu.Lock()
	s.done, s.total = 0, total
	s.stopCh = make(chan struct{})
	stop := s.stopCh
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			s.mu.Lock()
			fmt.Fprintf(s.w, "\r\x1b[K%s checking… %d of %d done", spinnerFrames[i%len(spinnerFrames)], s.done, s.total)
			s.mu.Unlock()
			select {
			case <-stop:
				fmt.Fprint(s.w, "\r\x1b[K")
				return
			case <-t.C:
			}
		}
	}()
}

func (s *spinner) progress(done, _ int) {
	s.mu.Lock()
	s.done = done
	s.mu.Unlock()
}

func (s *spinner) stop() {
	if !s.enabled {
		return
	}
	s.mu.Lock()
	stop := s.stopCh
	s.stopCh = nil
	s.mu.Unlock()
	if stop != nil {
		close(stop)
		s.wg.Wait()
	}
}
