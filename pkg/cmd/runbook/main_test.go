package runbook_test

import (
	"os"
	"testing"

	"github.com/picluster/kubectl-picluster/internal/testbed"
)

func TestMain(m *testing.M) { os.Exit(testbed.RunMain(m, testbed.MainOptions{})) }
