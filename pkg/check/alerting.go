package check

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	ammodels "github.com/prometheus/alertmanager/api/v2/models"
	"github.com/prometheus/common/model"

	"github.com/picluster/kubectl-picluster/pkg/alertmanager"
)

// NotificationWindow is how far back failed notifications count as recent.
const NotificationWindow = time.Hour

// Watchdog is the always-firing heartbeat alert of kube-prometheus-stack.
const Watchdog = "Watchdog"

func alertingChecks(e *Env) []Check {
	return []Check{
		{Category: CategoryAlerting, Name: "watchdog", Run: e.checkWatchdog},
		{Category: CategoryAlerting, Name: "discord-receiver", Run: e.checkDiscordReceiver},
		{Category: CategoryAlerting, Name: "notifications", Run: e.checkNotifications},
	}
}

func (e *Env) checkWatchdog(ctx context.Context) Result {
	var (
		wg        sync.WaitGroup
		amAlerts  ammodels.GettableAlerts
		amErr     error
		promFires map[string]bool
		promErr   error
	)
	wg.Add(2)
	go func() {
		defer wg.Done()
		amAlerts, amErr = e.AlertmanagerAlerts(ctx, fmt.Sprintf("alertname=%q", Watchdog))
	}()
	go func() {
		defer wg.Done()
		c, err := e.promClient()
		if err != nil {
			promErr = err
			return
		}
		promFires, promErr = c.FiringAlerts(ctx)
	}()
	wg.Wait()
	return EvaluateWatchdog(amAlerts, amErr, promFires[Watchdog], promErr)
}

// EvaluateWatchdog judges the pipeline's heartbeat: Watchdog must be active in
// Alertmanager. When it is not, Prometheus's own view tells where the chain broke.
func EvaluateWatchdog(amAlerts ammodels.GettableAlerts, amErr error, promFiring bool, promErr error) Result {
	if amErr != nil {
		return Errored(amErr, hintAlertmanager, "", "look for %s in Alertmanager", Watchdog)
	}
	var suppressed []string
	for _, a := range amAlerts {
		if a.Status == nil || a.Status.State == nil {
			continue
		}
		switch *a.Status.State {
		case ammodels.AlertStatusStateActive:
			return OK("%s is firing in Alertmanager: Prometheus evaluates rules and reaches Alertmanager", Watchdog)
		case ammodels.AlertStatusStateSuppressed:
			suppressed = append(suppressed, append(a.Status.SilencedBy, a.Status.InhibitedBy...)...)
		}
	}
	if len(amAlerts) > 0 && len(suppressed) > 0 {
		return Warn("kubectl picluster silence list; route Watchdog to the null receiver instead of silencing it", "",
			"%s reaches Alertmanager but is silenced or inhibited (by %s): a dead man's switch watching it would page", Watchdog, strings.Join(suppressed, ", "))
	}
	if promErr == nil && promFiring {
		return Fail("check Prometheus's Alertmanager endpoints (GET /api/v1/alertmanagers) and its logs for notification errors", "",
			"Prometheus fires %s but Alertmanager has not received it: alerts do not reach Alertmanager", Watchdog)
	}
	why := "Prometheus does not fire it either"
	if promErr != nil {
		why = "and Prometheus could not be asked: " + promErr.Error()
	}
	return Fail("keep kube-prometheus-stack's Watchdog rule (defaultRules.rules.general) and route it to the null receiver, never delete it; kubectl picluster rules", "",
		"%s is not firing in Alertmanager, %s: no alert can be trusted to arrive", Watchdog, why)
}

func (e *Env) checkDiscordReceiver(ctx context.Context) Result {
	st, err := e.AlertmanagerStatus(ctx)
	if err != nil {
		return Errored(err, hintAlertmanager, "", "read Alertmanager's configuration")
	}
	var original string
	if st.Config != nil && st.Config.Original != nil {
		original = *st.Config.Original
	}
	return EvaluateDiscordReceiver(e.Settings.Monitoring.Receiver, original)
}

// EvaluateDiscordReceiver judges Alertmanager's loaded configuration: the receiver
// must exist, send to Discord with send_resolved, and be used by a route.
func EvaluateDiscordReceiver(receiver, configYAML string) Result {
	hint := "kubectl picluster install --component monitoring, then check the HelmRelease's Alertmanager values"
	cfg, err := alertmanager.ParseConfig(configYAML)
	if err != nil {
		return Fail(hint, "", "Alertmanager's configuration cannot be read: %v", err)
	}
	r, ok := cfg.Receiver(receiver)
	if ok {
		discord := 0
		for _, n := range r.Notifiers {
			if n.Integration != "discord" {
				continue
			}
			discord++
			if !n.SendResolved {
				return Warn(hint, "", "receiver %s has send_resolved off: Discord never hears that an alert resolved", receiver)
			}
		}
		if discord == 0 {
			return Fail(hint, "", "receiver %s has no discord_configs: alerts never reach Discord", receiver)
		}
		if !cfg.Route.Uses(receiver) {
			return Warn(hint, "", "receiver %s exists but no route sends alerts to it", receiver)
		}
		return OK("receiver %s sends to Discord with send_resolved", receiver)
	}
	names := cfg.ReceiverNames()
	sort.Strings(names)
	return Fail(hint, "", "Alertmanager has no receiver %s (it has: %s)", receiver, strings.Join(names, ", "))
}

func (e *Env) checkNotifications(ctx context.Context) Result {
	c, err := e.promClient()
	if err != nil {
		return Errored(err, hintPrometheus, "", "ask Prometheus for Alertmanager's failed notifications")
	}
	q := fmt.Sprintf(`sum by (integration) (increase(alertmanager_notifications_failed_total[%ds]))`, int(NotificationWindow.Seconds()))
	vec, err := c.Vector(ctx, q, e.now())
	return EvaluateNotifications(vec, err)
}

// EvaluateNotifications judges the increase of failed notifications per
// integration in the last NotificationWindow: Discord's must not have risen. No
// series at all means Prometheus does not scrape Alertmanager; no Discord series
// means Alertmanager has not tried Discord since it started (it counts an
// integration once it is used).
func EvaluateNotifications(vec model.Vector, err error) Result {
	if err != nil {
		return Errored(err, hintPrometheus, "", "ask Prometheus for Alertmanager's failed notifications")
	}
	if len(vec) == 0 {
		return Warn("make sure Prometheus scrapes Alertmanager (kube-prometheus-stack does by default)", "",
			"Prometheus has no alertmanager_notifications_failed_total series: failed notifications go unseen")
	}
	for _, s := range vec {
		if s.Metric["integration"] != "discord" {
			continue
		}
		if failed := float64(s.Value); failed > 0 {
			return Fail("kubectl picluster webhook test; read Alertmanager's log for the Discord error", "",
				"%.0f notifications to Discord failed in the last %s", failed, model.Duration(NotificationWindow))
		}
	}
	return OK("no notification to Discord failed in the last %s", model.Duration(NotificationWindow))
}
