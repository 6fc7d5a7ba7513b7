package alertmanager

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/api/v2/models"

	"github.com/picluster/kubectl-picluster/pkg/exitcode"
	"github.com/picluster/kubectl-picluster/pkg/output"
)

// TestAlertReport is what `alert test` found.
type TestAlertReport struct {
	TestID string            `json:"testID"`
	Labels map[string]string `json:"labels"`
	// EndsAt is when Alertmanager resolves the alert by itself.
	EndsAt time.Time `json:"endsAt"`
	// Receivers and Integrations are where Alertmanager routed the alert (with --wait).
	Receivers    []string      `json:"receivers,omitempty"`
	Integrations []Integration `json:"integrations,omitempty"`
	// Firing and Resolved are the deliveries of the two notifications (with --wait).
	Firing   []Delivery `json:"firing,omitempty"`
	Resolved []Delivery `json:"resolved,omitempty"`
	// Note explains a step that was skipped.
	Note string `json:"note,omitempty"`
}

// How far `alert test --wait` follows the alert.
const (
	// WaitDelivered stops once the firing notification went out (the alert is then
	// resolved, without waiting for the resolved notification).
	WaitDelivered = "delivered"
	// WaitResolved also waits for the resolved notification, which Alertmanager sends
	// at the route's next group_interval (5m by default).
	WaitResolved = "resolved"
)

// TestAlertOptions tune RunTestAlert.
type TestAlertOptions struct {
	Spec TestAlertSpec
	// Wait follows the alert to its firing notification and, unless Until is
	// WaitDelivered, to its resolved one.
	Wait bool
	// Until is WaitDelivered or WaitResolved (the default).
	Until string
	// Poll is the interval between looks at Alertmanager (default 250ms).
	Poll time.Duration
	// Progress receives one line per step; nil discards.
	Progress io.Writer
}

// RunTestAlert posts the synthetic alert. With Wait it confirms the alert is
// active, that the notification counters of the integrations it routes to show a
// delivery, resolves it and confirms the resolved notification. A muted alert, a
// route that sends nothing or a failed delivery exits 1; the alert is resolved
// again in every case. The report is returned also with an error.
func (c *Client) RunTestAlert(ctx context.Context, o TestAlertOptions) (*TestAlertReport, error) {
	if o.Poll <= 0 {
		o.Poll = 250 * time.Millisecond
	}
	progress := o.Progress
	if progress == nil {
		progress = io.Discard
	}
	now := time.Now()
	testID := NewTestID()
	a, err := BuildTestAlert(o.Spec, testID, now)
	if err != nil {
		return nil, err
	}
	rep := &TestAlertReport{TestID: testID, Labels: a.Labels, EndsAt: time.Time(a.EndsAt)}
	if !o.Wait {
		if err := c.PostAlerts(ctx, models.PostableAlerts{a}); err != nil {
			return nil, err
		}
		fmt.Fprintf(progress, "posted %s %s=%s; Alertmanager resolves it at %s\n", TestAlertName, TestIDLabel, testID, rep.EndsAt.Local().Format(time.RFC3339))
		return rep, nil
	}

	st, err := c.Status(ctx)
	if err != nil {
		return nil, err
	}
	cfg, err := ConfigOf(st)
	if err != nil {
		return nil, err
	}
	byReceiver := cfg.ReceiverIntegrations()
	before, err := c.NotificationCounters(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.PostAlerts(ctx, models.PostableAlerts{a}); err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "posted %s %s=%s\n", TestAlertName, TestIDLabel, testID)
	resolved := false
	defer func() {
		if !resolved { // never leave the test alert firing, also on timeout or Ctrl-C
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			_ = c.PostAlerts(cctx, models.PostableAlerts{Resolved(a, time.Now())})
		}
	}()

	got, err := c.waitProcessed(ctx, testID, o.Poll)
	if err != nil {
		return rep, err
	}
	rep.Receivers = ReceiverNames(got)
	if AlertState(got) == models.AlertStatusStateSuppressed {
		return rep, c.suppressed(ctx, got)
	}
	rep.Integrations = RouteIntegrations(rep.Receivers, byReceiver)
	fmt.Fprintf(progress, "the alert is active in Alertmanager and routes to %s\n", describeRoute(rep.Receivers, rep.Integrations))
	if len(rep.Integrations) == 0 {
		return rep, exitcode.Failed(fmt.Errorf("the test alert routes to receiver %s, which has no integrations: nobody is notified",
			strings.Join(rep.Receivers, ", ")))
	}

	fmt.Fprintln(progress, "waiting for the firing notification (Alertmanager first waits the route's group_wait)")
	rep.Firing, err = c.waitDelivered(ctx, before, rep.Integrations, o.Poll, progress, "firing")
	if err != nil {
		return rep, err
	}

	var sending []Integration
	for _, in := range rep.Integrations {
		if in.SendResolved {
			sending = append(sending, in)
		}
	}
	before, err = c.NotificationCounters(ctx)
	if err != nil {
		return rep, err
	}
	if err := c.PostAlerts(ctx, models.PostableAlerts{Resolved(a, time.Now())}); err != nil {
		return rep, err
	}
	resolved = true
	fmt.Fprintln(progress, "resolved the alert")
	if o.Until == WaitDelivered {
		rep.Note = "stopped at the firing notification (--wait=delivered): the resolved one follows at the route's next group_interval"
		fmt.Fprintln(progress, rep.Note)
		return rep, nil
	}
	if len(sending) == 0 {
		rep.Note = "no integration of the route has send_resolved: no resolved notification to wait for"
		fmt.Fprintln(progress, rep.Note)
		return rep, nil
	}
	fmt.Fprintln(progress, "waiting for the resolved notification (sent at the route's next group_interval)")
	rep.Resolved, err = c.waitDelivered(ctx, before, sending, o.Poll, progress, "resolved")
	return rep, err
}

// waitProcessed waits until Alertmanager holds the alert and has decided whether it
// is muted.
func (c *Client) waitProcessed(ctx context.Context, testID string, every time.Duration) (*models.GettableAlert, error) {
	for {
		alerts, err := c.Alerts(ctx, TestIDFilter(testID))
		if err != nil {
			return nil, waitError(ctx, err, "the test alert to show in Alertmanager")
		}
		for _, a := range alerts {
			if st := AlertState(a); st != "" && st != models.AlertStatusStateUnprocessed {
				return a, nil
			}
		}
		if err := sleep(ctx, every, "the test alert to show in Alertmanager"); err != nil {
			return nil, err
		}
	}
}

// suppressed describes what mutes the test alert, as an exit-1 error.
func (c *Client) suppressed(ctx context.Context, a *models.GettableAlert) error {
	silences, err := c.Silences(ctx, nil)
	if err != nil {
		return err
	}
	alerts, err := c.Alerts(ctx, nil)
	if err != nil {
		return err
	}
	return exitcode.Failed(fmt.Errorf("the test alert is muted, so nobody is notified: %s",
		strings.Join(Suppression(a, silences, alerts), "; ")))
}

// waitDelivered polls the counters until every integration delivered or one failed.
func (c *Client) waitDelivered(ctx context.Context, before NotificationCounters, ints []Integration, every time.Duration, progress io.Writer, kind string) ([]Delivery, error) {
	reported := map[string]float64{}
	for {
		after, err := c.NotificationCounters(ctx)
		if err != nil {
			return nil, waitError(ctx, err, "the "+kind+" notification")
		}
		ds := make([]Delivery, len(ints))
		done := true
		for i, in := range ints {
			d := DeliverySince(before, after, in.Name)
			ds[i] = d
			if d.Failed > 0 {
				reason := "see Alertmanager's log for the error"
				if len(d.Reasons) > 0 {
					reason = "reason: " + strings.Join(d.Reasons, ", ")
				}
				return ds, exitcode.Failed(fmt.Errorf("the %s notification through %s failed after %s (%s)", kind, in.Name, output.Count(int(d.FailedAttempts), "attempt"), reason))
			}
			if d.FailedAttempts > reported[in.Name] {
				fmt.Fprintf(progress, "a delivery attempt through %s failed; Alertmanager retries\n", in.Name)
				reported[in.Name] = d.FailedAttempts
			}
			done = done && d.Done()
		}
		if done {
			for _, d := range ds {
				fmt.Fprintf(progress, "the %s notification went out through %s\n", kind, d.Integration)
			}
			return ds, nil
		}
		if err := sleep(ctx, every, "the "+kind+" notification"); err != nil {
			return ds, err
		}
	}
}

func describeRoute(receivers []string, ints []Integration) string {
	names := make([]string, len(ints))
	for i, in := range ints {
		names[i] = in.Name
	}
	if len(names) == 0 {
		names = []string{"no integration"}
	}
	return fmt.Sprintf("receiver %s (%s)", strings.Join(receivers, ", "), strings.Join(names, ", "))
}

// waitError turns a failed look into a timeout error when the deadline passed
// meanwhile, so that it names what was awaited rather than the cut request.
func waitError(ctx context.Context, err error, what string) error {
	if ctx.Err() != nil {
		return waitAborted(ctx, what)
	}
	return err
}

// sleep waits d, or returns a timeout error naming what was awaited.
func sleep(ctx context.Context, d time.Duration, what string) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return waitAborted(ctx, what)
	}
}

func waitAborted(ctx context.Context, what string) error {
	err := ctx.Err()
	if errors.Is(err, context.DeadlineExceeded) {
		return exitcode.TimedOut(fmt.Errorf("timed out waiting for %s", what))
	}
	return fmt.Errorf("waiting for %s: %w", what, err)
}
