// Package immichmetrics is an independent record of the Prometheus series Immich's server
// exports with IMMICH_TELEMETRY_INCLUDE=all, written from Immich's own source, so that tests
// can hold the plugin's metric names against Immich rather than against the plugin's
// defaults. Read from immich-app/immich (main; telemetry.service.ts at commit 1233277f464e,
// telemetry.repository.ts at 2599f58ce936, enum.ts QueueName/JobName/JobStatus):
//
//   - server/src/services/telemetry.service.ts: on JobStart and JobComplete the jobs group
//     adds +1 / -1 to the UpDownCounter `immich.queues.<snakeCase(queue)>.active` (jobs in
//     progress); on JobSuccess / JobError it adds 1 to the Counter
//     `immich.jobs.<snakeCase(job.name)>.<status>` (status success, skipped or failed); on
//     QueueStart the Counter `immich.queues.<queue>.started`; the api group keeps the
//     UpDownCounter `immich.users.total`.
//   - server/src/repositories/telemetry.repository.ts: a PrometheusExporter (one port per
//     worker: 8081 API, 8082 microservices) with HttpInstrumentation, whose
//     `http.server.duration` histogram is recorded in milliseconds.
//   - server/src/enum.ts: QueueName values (thumbnailGeneration, ...), JobName values
//     (AssetGenerateThumbnails, ...), JobStatus (success, failed, skipped).
//
// OpenTelemetry's Prometheus exporter turns dots into underscores, gives monotonic counters
// `_total`, exports UpDownCounters as gauges and histograms as `_bucket`/`_sum`/`_count`,
// and adds no unit suffix.
package immichmetrics

import (
	"fmt"
	"sort"
	"strings"
)

// Queues are Immich's queue names as snakeCase(QueueName) writes them.
func Queues() []string {
	return []string{
		"thumbnail_generation", "metadata_extraction", "video_conversion", "face_detection",
		"facial_recognition", "smart_search", "duplicate_detection", "background_task",
		"storage_template_migration", "migration", "search", "sidecar", "library",
		"notifications", "backup_database",
	}
}

// Jobs are the names of the jobs that do an asset's work (JobName values through
// snakeCase), the ones whose counters the alerts watch.
func Jobs() []string {
	return []string{
		"asset_generate_thumbnails", "asset_extract_metadata", "asset_encode_video",
		"asset_detect_faces", "smart_search",
	}
}

// Statuses are the JobStatus values a job counter carries.
func Statuses() []string { return []string{"success", "skipped", "failed"} }

// RequestDuration is the API's request latency histogram (milliseconds).
const RequestDuration = "http_server_duration"

// Series is one metric family as Prometheus scrapes it.
type Series struct {
	Name string
	Type string // counter, gauge or histogram
}

// APIWorker is what the API worker (port 8081) exports.
func APIWorker() []Series {
	return []Series{{Name: RequestDuration, Type: "histogram"}, {Name: "immich_users_total", Type: "gauge"}}
}

// MicroservicesWorker is what the microservices worker (port 8082) exports once its
// queues have run jobs.
func MicroservicesWorker() []Series {
	var out []Series
	for _, q := range Queues() {
		out = append(out, Series{Name: "immich_queues_" + q + "_active", Type: "gauge"},
			Series{Name: "immich_queues_" + q + "_started_total", Type: "counter"})
	}
	for _, j := range Jobs() {
		for _, s := range Statuses() {
			out = append(out, Series{Name: "immich_jobs_" + j + "_" + s + "_total", Type: "counter"})
		}
	}
	return out
}

// Names are the names of every series either worker exports; a histogram contributes
// its _bucket, _sum and _count series.
func Names() []string {
	var out []string
	for _, s := range append(APIWorker(), MicroservicesWorker()...) {
		if s.Type == "histogram" {
			out = append(out, s.Name+"_bucket", s.Name+"_sum", s.Name+"_count")
			continue
		}
		out = append(out, s.Name)
	}
	sort.Strings(out)
	return out
}

// Exposition writes series in Prometheus's text format with a plausible value each: a
// busy server's (counters that have counted, no job in progress). A histogram gets
// milliseconds buckets.
func Exposition(series []Series) string {
	var b strings.Builder
	for _, s := range series {
		fmt.Fprintf(&b, "# TYPE %s %s\n", s.Name, s.Type)
		switch s.Type {
		case "histogram":
			for _, le := range []string{"5", "50", "500", "5000", "+Inf"} {
				fmt.Fprintf(&b, "%s_bucket{le=%q} 12\n", s.Name, le)
			}
			fmt.Fprintf(&b, "%s_sum 320\n%s_count 12\n", s.Name, s.Name)
		case "counter":
			fmt.Fprintf(&b, "%s 7\n", s.Name)
		default:
			fmt.Fprintf(&b, "%s 0\n", s.Name)
		}
	}
	return b.String()
}
