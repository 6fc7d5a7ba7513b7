package cmdutil

import (
	"time"

	"github.com/spf13/pflag"

	"github.com/picluster/kubectl-picluster/pkg/duration"
)

// DurationVarP adds a duration flag bound to p (which holds the default) that takes
// the plugin's one duration syntax (30s, 5m, 2h, 1d, 1w, and Go's 1.5h) and refuses
// zero and negative values, all with pflag's wording naming the flag and the value.
func DurationVarP(fl *pflag.FlagSet, p *time.Duration, name, shorthand, usage string) {
	fl.VarP(duration.NewValue(p, false), name, shorthand, usage)
}

// DurationOrZeroVarP is DurationVarP for a flag where 0 means off.
func DurationOrZeroVarP(fl *pflag.FlagSet, p *time.Duration, name, shorthand, usage string) {
	fl.VarP(duration.NewValue(p, true), name, shorthand, usage)
}
