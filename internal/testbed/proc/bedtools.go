package proc

import (
	"fmt"
	"path/filepath"

	"github.com/picluster/kubectl-picluster/internal/testbed/beddir"
)

// bedTools are the servers and tools that hack/build-testbed.sh builds at the versions the
// pinned kube-prometheus-stack chart deploys (Prometheus v3.11.1, Alertmanager v0.32.0).
// They are taken from the bed only: Debian's packages are older (2.42, 0.25) and no user
// runs those with this chart, so a test that passed on them would prove the wrong thing.
var bedTools = map[string]string{
	"prometheus":              "prometheus",
	"promtool":                "promtool",
	"alertmanager":            "alertmanager",
	"prometheus-alertmanager": "alertmanager",
	"amtool":                  "amtool",
}

// lookBedTool finds name in the bed's bin/ when it is one of bedTools; ok is false for
// any other name.
func lookBedTool(name string) (path string, ok bool, err error) {
	file, ok := bedTools[name]
	if !ok {
		return "", false, nil
	}
	dir, err := beddir.Dir()
	if err != nil {
		return "", true, fmt.Errorf("%s comes from the test bed: %w", name, err)
	}
	path = filepath.Join(dir, "bin", file)
	if !isExecutable(path) {
		return "", true, fmt.Errorf("%s is not in the test bed build %s (rebuild it: hack/build-testbed.sh)", name, dir)
	}
	return path, true, nil
}
