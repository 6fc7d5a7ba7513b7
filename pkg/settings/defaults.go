package settings

import (
	"sort"
	"time"
)

// Default returns the settings of the cluster the plugin was built for: the runbook's
// namespaces and names, with its mistakes corrected (a schedule that says what it
// means, a time zone, real Immich metric names).
func Default() *Settings {
	return &Settings{
		Namespaces:   Namespaces{Monitoring: "monitoring", Immich: "immich", Backup: "backup-jobs"},
		Prometheus:   ServiceRef{Service: "prometheus-operated", Port: "web"},
		Alertmanager: ServiceRef{Service: "alertmanager-operated", Port: "web"},
		Monitoring: Monitoring{
			HelmRelease:   "kube-prometheus-stack",
			ChartVersion:  "83.4.0",
			ChartRepoURL:  "https://prometheus-community.github.io/helm-charts",
			DiscordSecret: SecretKeyRef{Name: "alertmanager-discord-webhook", Key: "webhookUrl"},
			Receiver:      "discord-alerts",
		},
		ExternalSecrets: ExternalSecrets{
			Provider:        ProviderOnePasswordSDK,
			StoreKind:       "ClusterSecretStore",
			StoreName:       "onepassword",
			RefreshInterval: Duration(time.Hour),
			DiscordWebhook:  RemoteRef{Key: "alertmanager", Property: "discord-alerts-webhook-url"},
			DBPassword:      RemoteRef{Key: "immich", Property: "db-password"},
			SSHKey:          RemoteRef{Key: "nas-backup", Property: "private-key"},
			KnownHosts:      RemoteRef{Key: "nas-backup", Property: "known-hosts"},
		},
		Immich: Immich{
			Deployments:    []string{"immich-server", "immich-machine-learning"},
			MetricsService: "immich-metrics",
			ServerPort:     8081,
			WorkerPort:     8082,
			PodSelector:    map[string]string{"app.kubernetes.io/name": "server", "app.kubernetes.io/instance": "immich"},
			Metrics: ImmichMetrics{
				ThumbnailQueue: "immich_queues_thumbnail_generation_active",
				VideoQueue:     "immich_queues_video_conversion_active",
				MetadataQueue:  "immich_queues_metadata_extraction_active",
				// Job counters are named after the job, not the queue: `immich.jobs.` +
				// snakeCase(JobName), and the jobs are AssetGenerateThumbnails,
				// AssetEncodeVideo and AssetExtractMetadata (server/src/enum.ts).
				ThumbnailSuccess:    "immich_jobs_asset_generate_thumbnails_success_total",
				ThumbnailFailed:     "immich_jobs_asset_generate_thumbnails_failed_total",
				VideoSuccess:        "immich_jobs_asset_encode_video_success_total",
				MetadataSuccess:     "immich_jobs_asset_extract_metadata_success_total",
				RequestDuration:     "http_server_duration",
				RequestDurationUnit: "milliseconds",
			},
			Thresholds: ImmichThresholds{
				ThumbnailQueue:      500,
				VideoQueue:          50,
				MetadataQueue:       100,
				QueueStuckFor:       Duration(30 * time.Minute),
				NoThumbnailActivity: Duration(6 * time.Hour),
				SlowRequestSeconds:  5,
				ServerDownFor:       Duration(time.Minute),
				TargetMissingFor:    Duration(10 * time.Minute),
				SlowRequestsFor:     Duration(5 * time.Minute),
			},
		},
		Postgres: Postgres{
			// the seed's server, and Immich's own (ghcr.io/immich-app/postgres:14-vectorchord...)
			MajorVersion:   14,
			Service:        "immich-postgresql",
			Port:           5432,
			Database:       "immich",
			User:           "postgres",
			PasswordSecret: SecretKeyRef{Name: "immich-postgresql", Key: "password"},
		},
		Backup: Backup{
			CronJob:        "postgres-backup",
			Schedule:       "30 2 * * 0",
			TimeZone:       "Etc/UTC",
			Retention:      8,
			StaleAfter:     Duration(8 * 24 * time.Hour),
			UploadImage:    "instrumentisto/rsync-ssh:alpine3.23-r3",
			PasswordSecret: SecretKeyRef{Name: "postgres-backup-db-password", Key: "password"},
			NAS: NAS{
				Host:         "192.168.1.60",
				Port:         22,
				User:         "pi",
				Path:         "/volume1/k3s-backups/postgres",
				SSHKeySecret: SecretKeyRef{Name: "postgres-backup-ssh-key", Key: "id_ed25519"},
			},
		},
		RestoreDrill: RestoreDrill{
			CronJob: "postgres-restore-drill",
			// two hours after the weekly backup, so that it drills the fresh dump
			Schedule:   "30 4 * * 0",
			TimeZone:   "Etc/UTC",
			StaleAfter: Duration(8 * 24 * time.Hour),
			Jobs:       1,
		},
		Runbooks: Runbooks{BaseURL: "https://github.com/picluster/kubectl-picluster/blob/main/runbooks"},
		RBAC:     RBAC{Group: "picluster-operators", ServiceAccount: "picluster-cron"},
	}
}

// postgresImages are the official Postgres images (docker-library/postgres, the
// PostgreSQL releases of 2025-11-13 on Alpine 3.23) by major version. The backup uses
// the server's own major: pg_dump cannot dump a newer server, and a dump made by a
// newer pg_dump may not restore with the server's own pg_restore.
func postgresImages() map[int]string {
	return map[int]string{
		14: "postgres:14.20-alpine3.23",
		15: "postgres:15.15-alpine3.23",
		16: "postgres:16.11-alpine3.23",
		17: "postgres:17.7-alpine3.23",
		18: "postgres:18.1-alpine3.23",
	}
}

// PostgresImage is the pinned Postgres image whose client tools match a server of this
// major version; ok is false for a major version the plugin has no image for.
func PostgresImage(major int) (image string, ok bool) {
	image, ok = postgresImages()[major]
	return image, ok
}

// PostgresMajorVersions lists the major versions PostgresImage knows, oldest first.
func PostgresMajorVersions() []int {
	var out []int
	for m := range postgresImages() {
		out = append(out, m)
	}
	sort.Ints(out)
	return out
}

// BackupImage is the image the backup dumps with: backup.image when set, otherwise
// the pinned Postgres image of postgres.majorVersion.
func (s *Settings) BackupImage() string {
	if s.Backup.Image != "" {
		return s.Backup.Image
	}
	image, _ := PostgresImage(s.Postgres.MajorVersion)
	return image
}
