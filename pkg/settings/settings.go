// Package settings holds the plugin's typed settings: which namespaces, services,
// secrets, thresholds and schedules describe the cluster it serves. Defaults match
// the cluster of the runbook the plugin was built from; a settings file overrides
// them key by key. Settings only ever name Secrets, they never hold secret values.
package settings

// Settings is the whole settings file.
type Settings struct {
	Namespaces      Namespaces      `json:"namespaces"`
	Prometheus      ServiceRef      `json:"prometheus"`
	Alertmanager    ServiceRef      `json:"alertmanager"`
	Monitoring      Monitoring      `json:"monitoring"`
	ExternalSecrets ExternalSecrets `json:"externalSecrets"`
	Immich          Immich          `json:"immich"`
	Postgres        Postgres        `json:"postgres"`
	Backup          Backup          `json:"backup"`
	RestoreDrill    RestoreDrill    `json:"restoreDrill"`
	Runbooks        Runbooks        `json:"runbooks"`
	RBAC            RBAC            `json:"rbac"`
}

// Namespaces names where each part of the setup lives.
type Namespaces struct {
	Monitoring string `json:"monitoring"`
	Immich     string `json:"immich"`
	Backup     string `json:"backup"`
}

// ServiceRef names a Service and its port (name or number) in the monitoring
// namespace, reached through the API server's service proxy.
type ServiceRef struct {
	Service string `json:"service"`
	Port    string `json:"port"`
}

// SecretKeyRef names one key of a Secret; the value itself is never read into settings.
type SecretKeyRef struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}

// Monitoring describes the kube-prometheus-stack release and its Discord receiver.
type Monitoring struct {
	HelmRelease   string       `json:"helmRelease"`
	ChartVersion  string       `json:"chartVersion"`
	ChartRepoURL  string       `json:"chartRepoURL"`
	DiscordSecret SecretKeyRef `json:"discordWebhookSecret"`
	Receiver      string       `json:"receiver"`
}

// ExternalSecrets describes the secret store (1Password through ESO) and the
// remote items each synced Secret comes from.
type ExternalSecrets struct {
	// Provider is the ESO provider of the store, which decides how a remote field is
	// named: ProviderOnePasswordSDK reads `key: <item>/<field>` and ignores `property`;
	// ProviderOnePasswordConnect reads `key: <item>` and `property: <field>`.
	Provider        string    `json:"provider"`
	StoreKind       string    `json:"storeKind"`
	StoreName       string    `json:"storeName"`
	RefreshInterval Duration  `json:"refreshInterval"`
	DiscordWebhook  RemoteRef `json:"discordWebhook"`
	DBPassword      RemoteRef `json:"dbPassword"`
	SSHKey          RemoteRef `json:"sshKey"`
	// KnownHosts is the NAS's SSH host key line(s), synced beside the SSH key so
	// the backup connects with StrictHostKeyChecking=yes.
	KnownHosts RemoteRef `json:"knownHosts"`
}

// The ESO providers of a 1Password store.
const (
	// ProviderOnePasswordSDK is ESO's onepasswordSDK provider (service accounts).
	ProviderOnePasswordSDK = "onepasswordSDK"
	// ProviderOnePasswordConnect is ESO's onepassword provider (a Connect server;
	// deprecated upstream).
	ProviderOnePasswordConnect = "onepassword"
)

// RemoteRefFields are the remoteRef key and property an ExternalSecret names the
// field r with, in the form the provider reads: the SDK provider `key: item/field`
// and no property (it ignores property), the Connect provider `key: item` and
// `property: field`.
func (e ExternalSecrets) RemoteRefFields(r RemoteRef) (key, property string) {
	if e.Provider == ProviderOnePasswordConnect {
		return r.Key, r.Property
	}
	return r.Key + "/" + r.Property, ""
}

// RemoteRef points at one field of one item in the external store.
type RemoteRef struct {
	// Key is the item (its title).
	Key string `json:"key"`
	// Property is the field (its label), optionally prefixed with its section
	// (`section/field`) for the SDK provider.
	Property string `json:"property"`
}

// Immich describes the Immich deployments, their metrics and alert thresholds.
type Immich struct {
	Deployments    []string          `json:"deployments"`
	MetricsService string            `json:"metricsService"`
	ServerPort     int               `json:"serverMetricsPort"`
	WorkerPort     int               `json:"microservicesMetricsPort"`
	PodSelector    map[string]string `json:"podSelector"`
	Metrics        ImmichMetrics     `json:"metrics"`
	Thresholds     ImmichThresholds  `json:"thresholds"`
}

// ImmichMetrics are the Prometheus names of the Immich metrics the alerts use.
// Immich exports OpenTelemetry metrics, so `immich.queues.<queue>.active` is scraped
// as `immich_queues_<queue>_active` and counters gain `_total`.
type ImmichMetrics struct {
	ThumbnailQueue   string `json:"thumbnailQueue"`
	VideoQueue       string `json:"videoQueue"`
	MetadataQueue    string `json:"metadataQueue"`
	ThumbnailSuccess string `json:"thumbnailSuccess"`
	ThumbnailFailed  string `json:"thumbnailFailed"`
	RequestDuration  string `json:"requestDuration"`
	// VideoSuccess and MetadataSuccess count finished video-encoding and
	// metadata-extraction jobs: a queue with active jobs and none finishing is stuck.
	VideoSuccess    string `json:"videoSuccess"`
	MetadataSuccess string `json:"metadataSuccess"`
	// RequestDurationUnit is the unit RequestDuration's histogram is recorded in:
	// "milliseconds" (OpenTelemetry's http.server.duration) or "seconds".
	RequestDurationUnit string `json:"requestDurationUnit"`
}

// ImmichThresholds are the alert thresholds for Immich.
type ImmichThresholds struct {
	ThumbnailQueue      int      `json:"thumbnailQueue"`
	VideoQueue          int      `json:"videoQueue"`
	MetadataQueue       int      `json:"metadataQueue"`
	QueueStuckFor       Duration `json:"queueStuckFor"`
	NoThumbnailActivity Duration `json:"noThumbnailActivityFor"`
	SlowRequestSeconds  float64  `json:"slowRequestSeconds"`
	ServerDownFor       Duration `json:"serverDownFor"`
	TargetMissingFor    Duration `json:"targetMissingFor"`
	SlowRequestsFor     Duration `json:"slowRequestsFor"`
}

// Postgres describes Immich's database.
type Postgres struct {
	// MajorVersion is the server's PostgreSQL major version; it picks the backup's
	// pg_dump (which cannot dump a server newer than itself).
	MajorVersion   int          `json:"majorVersion"`
	Service        string       `json:"service"`
	Port           int          `json:"port"`
	Database       string       `json:"database"`
	User           string       `json:"user"`
	PasswordSecret SecretKeyRef `json:"passwordSecret"`
}

// Backup describes the weekly pg_dump CronJob and the NAS it uploads to.
type Backup struct {
	CronJob    string   `json:"cronJob"`
	Schedule   string   `json:"schedule"`
	TimeZone   string   `json:"timeZone"`
	Retention  int      `json:"retention"`
	StaleAfter Duration `json:"staleAfter"`
	// Image runs pg_dump and pg_restore; empty means the pinned Postgres image of
	// postgres.majorVersion (see Settings.BackupImage).
	Image string `json:"image"`
	// UploadImage runs rsync and ssh (the Postgres image has neither); pinned like Image.
	UploadImage    string       `json:"uploadImage"`
	PasswordSecret SecretKeyRef `json:"passwordSecret"`
	NAS            NAS          `json:"nas"`
}

// RestoreDrill describes the optional drill CronJob (component restore-drill): it
// fetches the newest backup from the NAS, restores it into a scratch database on the
// same server, compares every table's rows with the dump's and drops the scratch
// database. It runs in the backup namespace with the backup's images, Secrets and NAS
// settings, so it needs the backup component. Off unless Enabled.
type RestoreDrill struct {
	// Enabled makes install (and check) include the component.
	Enabled    bool     `json:"enabled"`
	CronJob    string   `json:"cronJob"`
	Schedule   string   `json:"schedule"`
	TimeZone   string   `json:"timeZone"`
	StaleAfter Duration `json:"staleAfter"`
	// Jobs is the drill's pg_restore --jobs.
	Jobs int `json:"jobs"`
}

// NAS is the rsync-over-SSH destination of the backups.
type NAS struct {
	Host         string       `json:"host"`
	Port         int          `json:"port"`
	User         string       `json:"user"`
	Path         string       `json:"path"`
	SSHKeySecret SecretKeyRef `json:"sshKeySecret"`
}

// Runbooks says where the runbook_url annotations of the alerts point.
type Runbooks struct {
	BaseURL string `json:"baseURL"`
}

// RBAC names who `install` binds to the picluster-operator role: a Group for on-call
// users and a ServiceAccount (in the monitoring namespace) for unattended cron runs.
type RBAC struct {
	Group          string `json:"group"`
	ServiceAccount string `json:"serviceAccount"`
}
