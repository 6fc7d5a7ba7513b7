package servers

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	code := m.Run()
	RemovePostgresTemplates()
	os.Exit(code)
}
