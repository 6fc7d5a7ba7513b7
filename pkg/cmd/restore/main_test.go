package restore_test

import (
	"os"
	"testing"

	"github.com/picluster/kubectl-picluster/internal/testbed"
	"github.com/picluster/kubectl-picluster/internal/testbed/plugintest"
)

func TestMain(m *testing.M) {
	plugintest.MaybeRunPlugin()
	os.Exit(testbed.RunMain(m, testbed.MainOptions{}))
}
