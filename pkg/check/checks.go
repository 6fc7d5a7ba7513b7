package check

// All returns every check of the setup, in the order the report shows them.
func All(e *Env) []Check {
	var out []Check
	for _, f := range []func(*Env) []Check{
		kubernetesChecks, monitoringChecks, immichChecks, rulesChecks, alertingChecks, secretsChecks, backupChecks,
	} {
		out = append(out, f(e)...)
	}
	return out
}
