package alertmanager

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// metrics025 is the shape of Debian's Alertmanager 0.25 /metrics (labels: integration).
const metrics025 = `# HELP alertmanager_notifications_total The total number of attempted notifications.
# TYPE alertmanager_notifications_total counter
alertmanager_notifications_total{integration="discord"} 3
alertmanager_notifications_total{integration="webhook"} 1
# HELP alertmanager_notifications_failed_total The total number of failed notifications.
# TYPE alertmanager_notifications_failed_total counter
alertmanager_notifications_failed_total{integration="discord"} 1
alertmanager_notifications_failed_total{integration="webhook"} 0
# HELP alertmanager_notification_requests_total The total number of attempted notification requests.
# TYPE alertmanager_notification_requests_total counter
alertmanager_notification_requests_total{integration="discord"} 6
alertmanager_notification_requests_total{integration="webhook"} 1
# HELP alertmanager_notification_requests_failed_total The total number of failed notification requests.
# TYPE alertmanager_notification_requests_failed_total counter
alertmanager_notification_requests_failed_total{integration="discord"} 4
alertmanager_notification_requests_failed_total{integration="webhook"} 0
# HELP alertmanager_alerts How many alerts by state.
# TYPE alertmanager_alerts gauge
alertmanager_alerts{state="active"} 1
`

// metricsNew adds receiver_name and reason labels, as newer Alertmanagers do.
const metricsNew = `# TYPE alertmanager_notifications_total counter
alertmanager_notifications_total{integration="discord",receiver_name="discord-alerts"} 2
alertmanager_notifications_total{integration="discord",receiver_name="other"} 1
# TYPE alertmanager_notifications_failed_total counter
alertmanager_notifications_failed_total{integration="discord",reason="clientError",receiver_name="discord-alerts"} 1
alertmanager_notifications_failed_total{integration="discord",reason="serverError",receiver_name="discord-alerts"} 2
`

func TestParseNotificationCounters(t *testing.T) {
	tests := map[string]struct {
		in   string
		want NotificationCounters
	}{
		"0.25": {in: metrics025, want: NotificationCounters{
			"discord": {Notifications: 3, Failed: 1, Requests: 6, RequestsFailed: 4},
			"webhook": {Notifications: 1, Requests: 1},
		}},
		"newer labels are summed": {in: metricsNew, want: NotificationCounters{
			"discord": {Notifications: 3, Failed: 3, FailedReasons: map[string]float64{"clientError": 1, "serverError": 2}},
		}},
		"no delivery metrics yet": {in: "# TYPE up gauge\nup 1\n", want: NotificationCounters{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseNotificationCounters(strings.NewReader(tc.in))
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
	_, err := ParseNotificationCounters(strings.NewReader("alertmanager_notifications_total{integration= 1\n"))
	require.Error(t, err)
}

func TestDeliverySince(t *testing.T) {
	before := NotificationCounters{"discord": {Notifications: 3, Failed: 1, Requests: 6, RequestsFailed: 4, FailedReasons: map[string]float64{"clientError": 1}}}
	tests := map[string]struct {
		after NotificationCounters
		want  Delivery
		done  bool
		ok    bool
	}{
		"nothing yet": {after: before, want: Delivery{Integration: "discord"}},
		"started, request in flight": {
			after: NotificationCounters{"discord": {Notifications: 4, Failed: 1, Requests: 6, RequestsFailed: 4}},
			want:  Delivery{Integration: "discord", Started: 1},
		},
		"delivered": {
			after: NotificationCounters{"discord": {Notifications: 4, Failed: 1, Requests: 7, RequestsFailed: 4}},
			want:  Delivery{Integration: "discord", Started: 1, Delivered: 1}, done: true, ok: true,
		},
		"delivered after a failed attempt": {
			after: NotificationCounters{"discord": {Notifications: 4, Failed: 1, Requests: 8, RequestsFailed: 5}},
			want:  Delivery{Integration: "discord", Started: 1, Delivered: 1, FailedAttempts: 1}, done: true, ok: true,
		},
		"retrying": {
			after: NotificationCounters{"discord": {Notifications: 4, Failed: 1, Requests: 8, RequestsFailed: 6}},
			want:  Delivery{Integration: "discord", Started: 1, FailedAttempts: 2},
		},
		"failed for good, with reason": {
			after: NotificationCounters{"discord": {Notifications: 4, Failed: 2, Requests: 7, RequestsFailed: 5, FailedReasons: map[string]float64{"clientError": 2}}},
			want:  Delivery{Integration: "discord", Started: 1, Failed: 1, FailedAttempts: 1, Reasons: []string{"clientError"}}, done: true,
		},
		"restarted Alertmanager": {
			after: NotificationCounters{"discord": {Notifications: 1, Requests: 1}},
			want:  Delivery{Integration: "discord", Started: 1, Delivered: 1}, done: true, ok: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := DeliverySince(before, tc.after, "discord")
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.done, got.Done())
			assert.Equal(t, tc.ok, got.OK())
		})
	}
}

func TestReceiverIntegrations(t *testing.T) {
	cfg := `
route:
  receiver: discord-alerts
receivers:
- name: "null"
- name: discord-alerts
  discord_configs:
  - webhook_url: <secret>
    send_resolved: true
- name: mixed
  webhook_configs:
  - url: http://a
    send_resolved: false
  - url: http://b
  email_configs:
  - to: a@b.c
- name: quiet
  webhook_configs:
  - url: http://a
    send_resolved: false
`
	got, err := ReceiverIntegrations(cfg)
	require.NoError(t, err)
	assert.Equal(t, map[string][]Integration{
		"null":           {},
		"discord-alerts": {{Name: "discord", Configs: 1, SendResolved: true}},
		"mixed":          {{Name: "email", Configs: 1}, {Name: "webhook", Configs: 2, SendResolved: true}},
		"quiet":          {{Name: "webhook", Configs: 1}},
	}, got)
	assert.Equal(t, []Integration{{Name: "discord", Configs: 1, SendResolved: true}, {Name: "webhook", Configs: 1}},
		RouteIntegrations([]string{"discord-alerts", "quiet", "null"}, got))

	_, err = ReceiverIntegrations("receivers: [")
	require.Error(t, err)
}
