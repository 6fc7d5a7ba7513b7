package settings

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	_ "time/tzdata" // time zones resolve the same on a Pi, a Mac and in CI

	"k8s.io/apimachinery/pkg/util/validation"
)

var metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)

// Validate checks every value and returns one error per bad key, each naming it.
func (s *Settings) Validate() error {
	v := &validator{}
	v.dns1123("namespaces.monitoring", s.Namespaces.Monitoring)
	v.dns1123("namespaces.immich", s.Namespaces.Immich)
	v.dns1123("namespaces.backup", s.Namespaces.Backup)
	// install creates the monitoring and backup namespaces and a Role in each of the three
	if s.Namespaces.Backup != "" && (s.Namespaces.Backup == s.Namespaces.Monitoring || s.Namespaces.Backup == s.Namespaces.Immich) {
		v.add("namespaces.backup", "must differ from namespaces.monitoring and namespaces.immich, got %q", s.Namespaces.Backup)
	}
	if s.Namespaces.Immich != "" && s.Namespaces.Immich == s.Namespaces.Monitoring {
		v.add("namespaces.immich", "must differ from namespaces.monitoring, got %q", s.Namespaces.Immich)
	}
	v.serviceRef("prometheus", s.Prometheus)
	v.serviceRef("alertmanager", s.Alertmanager)

	v.dns1123("monitoring.helmRelease", s.Monitoring.HelmRelease)
	v.nonEmpty("monitoring.chartVersion", s.Monitoring.ChartVersion)
	v.url("monitoring.chartRepoURL", s.Monitoring.ChartRepoURL)
	v.secretRef("monitoring.discordWebhookSecret", s.Monitoring.DiscordSecret)
	v.nonEmpty("monitoring.receiver", s.Monitoring.Receiver)

	switch s.ExternalSecrets.Provider {
	case ProviderOnePasswordSDK, ProviderOnePasswordConnect:
	default:
		v.add("externalSecrets.provider", "must be %s (1Password service account) or %s (1Password Connect), got %q",
			ProviderOnePasswordSDK, ProviderOnePasswordConnect, s.ExternalSecrets.Provider)
	}
	switch s.ExternalSecrets.StoreKind {
	case "SecretStore", "ClusterSecretStore":
	default:
		v.add("externalSecrets.storeKind", "must be SecretStore or ClusterSecretStore, got %q", s.ExternalSecrets.StoreKind)
	}
	v.dns1123("externalSecrets.storeName", s.ExternalSecrets.StoreName)
	v.positive("externalSecrets.refreshInterval", s.ExternalSecrets.RefreshInterval)
	v.remoteRef("externalSecrets.discordWebhook", s.ExternalSecrets.DiscordWebhook)
	v.remoteRef("externalSecrets.dbPassword", s.ExternalSecrets.DBPassword)
	v.remoteRef("externalSecrets.sshKey", s.ExternalSecrets.SSHKey)
	v.remoteRef("externalSecrets.knownHosts", s.ExternalSecrets.KnownHosts)

	if len(s.Immich.Deployments) == 0 {
		v.add("immich.deployments", "must name at least one Deployment")
	}
	for i, d := range s.Immich.Deployments {
		v.dns1123(fmt.Sprintf("immich.deployments[%d]", i), d)
	}
	v.dns1123("immich.metricsService", s.Immich.MetricsService)
	v.port("immich.serverMetricsPort", s.Immich.ServerPort)
	v.port("immich.microservicesMetricsPort", s.Immich.WorkerPort)
	if s.Immich.WorkerPort == s.Immich.ServerPort {
		v.add("immich.microservicesMetricsPort", "must differ from immich.serverMetricsPort (%d)", s.Immich.ServerPort)
	}
	if len(s.Immich.PodSelector) == 0 {
		v.add("immich.podSelector", "must hold at least one label")
	}
	m := s.Immich.Metrics
	for key, name := range map[string]string{
		"thumbnailQueue": m.ThumbnailQueue, "videoQueue": m.VideoQueue, "metadataQueue": m.MetadataQueue,
		"thumbnailSuccess": m.ThumbnailSuccess, "thumbnailFailed": m.ThumbnailFailed, "requestDuration": m.RequestDuration,
		"videoSuccess": m.VideoSuccess, "metadataSuccess": m.MetadataSuccess,
	} {
		if !metricName.MatchString(name) {
			v.add("immich.metrics."+key, "%q is not a Prometheus metric name", name)
		}
	}
	switch m.RequestDurationUnit {
	case "seconds", "milliseconds":
	default:
		v.add("immich.metrics.requestDurationUnit", "must be seconds or milliseconds, got %q", m.RequestDurationUnit)
	}
	th := s.Immich.Thresholds
	v.positiveInt("immich.thresholds.thumbnailQueue", th.ThumbnailQueue)
	v.positiveInt("immich.thresholds.videoQueue", th.VideoQueue)
	v.positiveInt("immich.thresholds.metadataQueue", th.MetadataQueue)
	v.positive("immich.thresholds.queueStuckFor", th.QueueStuckFor)
	v.positive("immich.thresholds.noThumbnailActivityFor", th.NoThumbnailActivity)
	v.positive("immich.thresholds.serverDownFor", th.ServerDownFor)
	v.positive("immich.thresholds.targetMissingFor", th.TargetMissingFor)
	v.positive("immich.thresholds.slowRequestsFor", th.SlowRequestsFor)
	if th.SlowRequestSeconds <= 0 {
		v.add("immich.thresholds.slowRequestSeconds", "must be greater than 0, got %v", th.SlowRequestSeconds)
	}

	if _, ok := PostgresImage(s.Postgres.MajorVersion); !ok && s.Backup.Image == "" {
		v.add("postgres.majorVersion", "no pinned Postgres image for major version %d (known: %v); set backup.image to an image whose pg_dump is that version or newer",
			s.Postgres.MajorVersion, PostgresMajorVersions())
	}
	v.dns1123("postgres.service", s.Postgres.Service)
	v.port("postgres.port", s.Postgres.Port)
	v.database("postgres.database", s.Postgres.Database)
	v.nonEmpty("postgres.user", s.Postgres.User)
	v.secretRef("postgres.passwordSecret", s.Postgres.PasswordSecret)

	b := s.Backup
	v.dns1123("backup.cronJob", b.CronJob)
	if len(b.CronJob) > maxCronJobName {
		v.add("backup.cronJob", "must be at most %d characters (the API server's limit for a CronJob, whose Jobs get an 11-character suffix), got %d", maxCronJobName, len(b.CronJob))
	}
	v.schedule("backup.schedule", b.Schedule)
	v.timeZone("backup.timeZone", b.TimeZone)
	if b.Retention < 1 {
		v.add("backup.retention", "must keep at least 1 dump, got %d", b.Retention)
	}
	v.positive("backup.staleAfter", b.StaleAfter)
	if b.Image != "" {
		v.pinnedImage("backup.image", b.Image)
	}
	v.pinnedImage("backup.uploadImage", b.UploadImage)
	v.secretRef("backup.passwordSecret", b.PasswordSecret)
	v.nasHost("backup.nas.host", b.NAS.Host)
	v.port("backup.nas.port", b.NAS.Port)
	v.nasUser("backup.nas.user", b.NAS.User)
	v.nasPath("backup.nas.path", b.NAS.Path)
	v.secretRef("backup.nas.sshKeySecret", b.NAS.SSHKeySecret)
	// checked whether enabled or not: a drill switched on later must not fail then
	d := s.RestoreDrill
	v.dns1123("restoreDrill.cronJob", d.CronJob)
	if len(d.CronJob) > maxCronJobName {
		v.add("restoreDrill.cronJob", "must be at most %d characters (the API server's limit for a CronJob, whose Jobs get an 11-character suffix), got %d", maxCronJobName, len(d.CronJob))
	}
	if d.CronJob != "" && d.CronJob == b.CronJob {
		v.add("restoreDrill.cronJob", "must differ from backup.cronJob (both live in namespaces.backup), got %q", d.CronJob)
	}
	v.schedule("restoreDrill.schedule", d.Schedule)
	v.timeZone("restoreDrill.timeZone", d.TimeZone)
	v.positive("restoreDrill.staleAfter", d.StaleAfter)
	if d.Jobs < 1 {
		v.add("restoreDrill.jobs", "must be at least 1 (pg_restore --jobs), got %d", d.Jobs)
	}
	if n := len(s.Postgres.Database) + len("_drill_20060102150405"); n > 63 {
		v.add("postgres.database", "is too long for the drill's scratch database name (<database>_drill_<time>, at most 63 characters), got %d characters", len(s.Postgres.Database))
	}
	v.url("runbooks.baseURL", s.Runbooks.BaseURL)
	v.nonEmpty("rbac.group", s.RBAC.Group)
	v.dns1123("rbac.serviceAccount", s.RBAC.ServiceAccount)
	return v.err()
}

type validator struct{ errs []error }

func (v *validator) add(key, format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf("key %s: %s", key, fmt.Sprintf(format, args...)))
}

func (v *validator) err() error { return errors.Join(v.errs...) }

func (v *validator) nonEmpty(key, val string) {
	if strings.TrimSpace(val) == "" {
		v.add(key, "must not be empty")
	}
}

func (v *validator) dns1123(key, val string) {
	if val == "" {
		v.add(key, "must not be empty")
		return
	}
	if msgs := validation.IsDNS1123Label(val); len(msgs) > 0 {
		v.add(key, "%q is not a valid Kubernetes name: %s", val, strings.Join(msgs, "; "))
	}
}

func (v *validator) port(key string, p int) {
	if p < 1 || p > 65535 {
		v.add(key, "must be a port between 1 and 65535, got %d", p)
	}
}

func (v *validator) positive(key string, d Duration) {
	if d <= 0 {
		v.add(key, "must be a duration greater than 0, got %s", d)
	}
}

func (v *validator) pinnedImage(key, image string) {
	if err := checkImage(image); err != nil {
		v.add(key, "%v", err)
	}
}

func (v *validator) positiveInt(key string, n int) {
	if n <= 0 {
		v.add(key, "must be greater than 0, got %d", n)
	}
}

func (v *validator) url(key, val string) {
	u, err := url.Parse(val)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.add(key, "must be an http(s) URL, got %q", val)
	}
}

func (v *validator) serviceRef(key string, r ServiceRef) {
	v.dns1123(key+".service", r.Service)
	if r.Port == "" {
		v.add(key+".port", "must name a port (its name, e.g. web, or its number)")
		return
	}
	if n, err := strconv.Atoi(r.Port); err == nil {
		v.port(key+".port", n)
	} else if msgs := validation.IsValidPortName(r.Port); len(msgs) > 0 {
		v.add(key+".port", "%q is neither a port number nor a port name: %s", r.Port, strings.Join(msgs, "; "))
	}
}

func (v *validator) secretRef(key string, r SecretKeyRef) {
	if msgs := validation.IsDNS1123Subdomain(r.Name); r.Name == "" || len(msgs) > 0 {
		v.add(key+".name", "%q is not a valid Secret name", r.Name)
	}
	if msgs := validation.IsConfigMapKey(r.Key); r.Key == "" || len(msgs) > 0 {
		v.add(key+".key", "%q is not a valid Secret key", r.Key)
	}
}

func (v *validator) remoteRef(key string, r RemoteRef) {
	v.nonEmpty(key+".key", r.Key)
	v.nonEmpty(key+".property", r.Property)
}
