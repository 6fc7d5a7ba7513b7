package alertmanager

import (
	"fmt"
	"io"
	"maps"
	"slices"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Alertmanager's own delivery metrics, by integration (webhook, discord, ...).
// notifications_total counts flushes started and notifications_failed_total those
// that failed for good (after retries); requests_total and requests_failed_total
// count single attempts, so a successful delivery shows as a request that did not fail.
const (
	metricNotifications          = "alertmanager_notifications_total"
	metricNotificationsFailed    = "alertmanager_notifications_failed_total"
	metricNotificationReqs       = "alertmanager_notification_requests_total"
	metricNotificationReqsFailed = "alertmanager_notification_requests_failed_total"
)

// IntegrationCounters are the delivery counters of one integration, summed over
// any other labels (receiver_name, reason) newer Alertmanagers add.
type IntegrationCounters struct {
	Notifications  float64
	Failed         float64
	Requests       float64
	RequestsFailed float64
	// FailedReasons splits Failed by the reason label (Alertmanager 0.27 and later).
	FailedReasons map[string]float64
}

// NotificationCounters holds the delivery counters by integration.
type NotificationCounters map[string]IntegrationCounters

// ParseNotificationCounters reads the delivery counters from Alertmanager's /metrics
// in the Prometheus text format.
func ParseNotificationCounters(r io.Reader) (NotificationCounters, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	out := NotificationCounters{}
	for _, name := range []string{metricNotifications, metricNotificationsFailed, metricNotificationReqs, metricNotificationReqsFailed} {
		fam := families[name]
		if fam == nil {
			continue
		}
		for _, m := range fam.GetMetric() {
			integration, reason := labelValue(m, "integration"), labelValue(m, "reason")
			v := m.GetCounter().GetValue()
			if m.GetCounter() == nil {
				v = m.GetUntyped().GetValue()
			}
			c := out[integration]
			switch name {
			case metricNotifications:
				c.Notifications += v
			case metricNotificationsFailed:
				c.Failed += v
				if reason != "" {
					if c.FailedReasons == nil {
						c.FailedReasons = map[string]float64{}
					}
					c.FailedReasons[reason] += v
				}
			case metricNotificationReqs:
				c.Requests += v
			case metricNotificationReqsFailed:
				c.RequestsFailed += v
			}
			out[integration] = c
		}
	}
	return out, nil
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// Delivery is how far the deliveries of one integration got between two readings
// of the counters.
type Delivery struct {
	Integration string `json:"integration"`
	// Started counts notifications begun (notifications_total rose).
	Started float64 `json:"started"`
	// Delivered counts requests that succeeded.
	Delivered float64 `json:"delivered"`
	// FailedAttempts counts requests that failed (Alertmanager retries them).
	FailedAttempts float64 `json:"failedAttempts"`
	// Failed counts notifications Alertmanager gave up on.
	Failed float64 `json:"failed"`
	// Reasons are the reason labels of the failures, when Alertmanager reports them.
	Reasons []string `json:"reasons,omitempty"`
}

// DeliverySince compares two readings for one integration. A counter that went
// down means Alertmanager restarted; the later value then counts in full.
func DeliverySince(before, after NotificationCounters, integration string) Delivery {
	b, a := before[integration], after[integration]
	delta := func(x, y float64) float64 {
		if y < x {
			return y
		}
		return y - x
	}
	d := Delivery{
		Integration:    integration,
		Started:        delta(b.Notifications, a.Notifications),
		FailedAttempts: delta(b.RequestsFailed, a.RequestsFailed),
		Failed:         delta(b.Failed, a.Failed),
	}
	d.Delivered = delta(b.Requests, a.Requests) - d.FailedAttempts
	if d.Delivered < 0 {
		d.Delivered = 0
	}
	for _, reason := range slices.Sorted(maps.Keys(a.FailedReasons)) {
		if delta(b.FailedReasons[reason], a.FailedReasons[reason]) > 0 {
			d.Reasons = append(d.Reasons, reason)
		}
	}
	return d
}

// Done tells whether the delivery ended, in success or for good in failure.
func (d Delivery) Done() bool { return d.Delivered > 0 || d.Failed > 0 }

// OK tells whether a notification got through and none failed for good.
func (d Delivery) OK() bool { return d.Delivered > 0 && d.Failed == 0 }
