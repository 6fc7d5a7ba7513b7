package alertmanager

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	amclient "github.com/prometheus/alertmanager/api/v2/client"
	"github.com/prometheus/alertmanager/api/v2/client/alert"
	"github.com/prometheus/alertmanager/api/v2/client/general"
	"github.com/prometheus/alertmanager/api/v2/client/silence"
	"github.com/prometheus/alertmanager/api/v2/models"

	"github.com/picluster/kubectl-picluster/pkg/endpoint"
	"github.com/picluster/kubectl-picluster/pkg/exitcode"
)

// Client talks to one Alertmanager: the official API v2 client for silences,
// alerts and status, and plain HTTP on the same connection for its /metrics.
type Client struct {
	api      *amclient.AlertmanagerAPI
	endpoint *endpoint.Endpoint
}

// New returns a client for the Alertmanager at e.
func New(e *endpoint.Endpoint) *Client {
	base := strings.TrimSuffix(e.BaseURL.Path, "/") + amclient.DefaultBasePath
	rt := httptransport.NewWithClient(e.BaseURL.Host, base, []string{e.BaseURL.Scheme}, e.Client)
	return &Client{api: amclient.New(rt, strfmt.Default), endpoint: e}
}

// Endpoint returns how Alertmanager is reached.
func (c *Client) Endpoint() *endpoint.Endpoint { return c.endpoint }

// Via describes how Alertmanager is reached, for messages.
func (c *Client) Via() string { return c.endpoint.Via }

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// CheckSilenceID refuses a string that cannot be a silence ID (a UUID); exit 2.
func CheckSilenceID(id string) error {
	if !uuidPattern.MatchString(id) {
		return exitcode.BadUsage(fmt.Errorf("%q is not a silence ID (IDs are UUIDs, see `silence list`)", id))
	}
	return nil
}

// Silences lists silences; filter holds matchers in the API's syntax (name="value")
// that a silence's own matchers must include.
func (c *Client) Silences(ctx context.Context, filter []string) (models.GettableSilences, error) {
	p := silence.NewGetSilencesParamsWithContext(ctx).WithFilter(filter)
	ok, err := c.api.Silence.GetSilences(p)
	if err != nil {
		return nil, apiError("list silences", err)
	}
	return ok.Payload, nil
}

// Silence returns one silence; an unknown ID exits 2.
func (c *Client) Silence(ctx context.Context, id string) (*models.GettableSilence, error) {
	if err := CheckSilenceID(id); err != nil {
		return nil, err
	}
	ok, err := c.api.Silence.GetSilence(silence.NewGetSilenceParamsWithContext(ctx).WithSilenceID(strfmt.UUID(id)))
	if err != nil {
		var nf *silence.GetSilenceNotFound
		if errors.As(err, &nf) {
			return nil, exitcode.BadUsage(fmt.Errorf("silence %s not found", id))
		}
		return nil, apiError("get silence "+id, err)
	}
	return ok.Payload, nil
}

// PostSilence creates a silence, or updates the one with s.ID, and returns the ID
// Alertmanager reports (a new one when it had to replace the silence).
func (c *Client) PostSilence(ctx context.Context, s *models.PostableSilence) (string, error) {
	what := "create silence"
	if s.ID != "" {
		what = "update silence " + s.ID
	}
	ok, err := c.api.Silence.PostSilences(silence.NewPostSilencesParamsWithContext(ctx).WithSilence(s))
	if err != nil {
		return "", apiError(what, err)
	}
	return ok.Payload.SilenceID, nil
}

// ExpireSilence expires a silence now.
func (c *Client) ExpireSilence(ctx context.Context, id string) error {
	if err := CheckSilenceID(id); err != nil {
		return err
	}
	_, err := c.api.Silence.DeleteSilence(silence.NewDeleteSilenceParamsWithContext(ctx).WithSilenceID(strfmt.UUID(id)))
	if err != nil {
		return apiError("expire silence "+id, err)
	}
	return nil
}

// Alerts lists the alerts Alertmanager holds (active, silenced and inhibited;
// resolved ones are gone), optionally only those matching filter.
func (c *Client) Alerts(ctx context.Context, filter []string) (models.GettableAlerts, error) {
	p := alert.NewGetAlertsParamsWithContext(ctx)
	p.SetDefaults()
	p.Context = ctx
	p.Filter = filter
	ok, err := c.api.Alert.GetAlerts(p)
	if err != nil {
		return nil, apiError("list alerts", err)
	}
	return ok.Payload, nil
}

// PostAlerts sends alerts to Alertmanager, as Prometheus does.
func (c *Client) PostAlerts(ctx context.Context, alerts models.PostableAlerts) error {
	if _, err := c.api.Alert.PostAlerts(alert.NewPostAlertsParamsWithContext(ctx).WithAlerts(alerts)); err != nil {
		return apiError("post alerts", err)
	}
	return nil
}

// Status returns Alertmanager's status: version, cluster and running config.
func (c *Client) Status(ctx context.Context) (*models.AlertmanagerStatus, error) {
	ok, err := c.api.General.GetStatus(general.NewGetStatusParamsWithContext(ctx))
	if err != nil {
		return nil, apiError("get Alertmanager status", err)
	}
	return ok.Payload, nil
}

// NotificationCounters reads Alertmanager's own /metrics.
func (c *Client) NotificationCounters(ctx context.Context) (NotificationCounters, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.endpoint.URL("/metrics"), nil)
	if err != nil {
		return nil, fmt.Errorf("read Alertmanager metrics: %w", err)
	}
	req.Header.Set("Accept", "text/plain")
	resp, err := c.endpoint.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("read Alertmanager metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("read Alertmanager metrics: %s answered %s", c.endpoint.Via, resp.Status)
	}
	counters, err := ParseNotificationCounters(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read Alertmanager metrics: %w", err)
	}
	return counters, nil
}

func isConnectionError(err error) bool {
	var conn *endpoint.ConnectionError
	return errors.As(err, &conn)
}

// apiError says what was being done; Alertmanager refusing the request (4xx)
// exits 2, connection failures keep their own code, anything else exits 1.
func apiError(what string, err error) error {
	var conn *endpoint.ConnectionError
	if errors.As(err, &conn) {
		return fmt.Errorf("%s: %w", what, conn)
	}
	if exitcode.IsTimeout(err) || errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s: %w", what, err)
	}
	msg := err.Error()
	if p, ok := err.(interface{ GetPayload() string }); ok && p.GetPayload() != "" {
		msg = strings.TrimSpace(p.GetPayload())
	}
	if c, ok := err.(interface{ Code() int }); ok {
		msg = fmt.Sprintf("Alertmanager answered %d: %s", c.Code(), msg)
	}
	if ce, ok := err.(interface{ IsClientError() bool }); ok && ce.IsClientError() {
		return exitcode.BadUsage(fmt.Errorf("%s: %s", what, msg))
	}
	return exitcode.Failed(fmt.Errorf("%s: %s", what, msg))
}
