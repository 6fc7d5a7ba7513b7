package alertmanager

import (
	"os"
	"os/user"
)

// DefaultAuthor is the user running the command, as amtool's default author of a
// silence.
func DefaultAuthor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "kubectl-picluster"
}
