package prometheus

import (
	"bytes"
	"fmt"
	"testing"
)

// scaledTargets makes a /api/v1/targets answer of n targets shaped like the
// recorded one (Prometheus 2.42), discovered labels included.
func scaledTargets(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"status":"success","data":{"activeTargets":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"discoveredLabels":{"__address__":"10.42.%[1]d.%[2]d:8081","__meta_kubernetes_namespace":"immich","__meta_kubernetes_pod_name":"immich-server-%[1]d-%[2]d","__meta_kubernetes_service_name":"immich-metrics","__metrics_path__":"/metrics","__scheme__":"http","job":"serviceMonitor/immich/immich-metrics/0"},`+
			`"labels":{"container":"server","endpoint":"api-metrics","instance":"10.42.%[1]d.%[2]d:8081","job":"immich-metrics","namespace":"immich","pod":"immich-server-%[1]d-%[2]d","service":"immich-metrics"},`+
			`"scrapePool":"serviceMonitor/immich/immich-metrics/0","scrapeUrl":"http://10.42.%[1]d.%[2]d:8081/metrics","globalUrl":"http://10.42.%[1]d.%[2]d:8081/metrics",`+
			`"lastError":"","lastScrape":"2026-11-25T10:00:02.123456789Z","lastScrapeDuration":0.004213,"health":"up","scrapeInterval":"30s","scrapeTimeout":"10s"}`, i/250, i%250)
	}
	b.WriteString(`],"droppedTargets":[]}}`)
	return b.Bytes()
}

// BenchmarkDecodeTargets decodes answers of growing size: time and memory per
// target must stay flat.
func BenchmarkDecodeTargets(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		body := scaledTargets(n)
		b.Run(fmt.Sprintf("targets=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				ts, err := DecodeTargets(bytes.NewReader(body))
				if err != nil || len(ts) != n {
					b.Fatalf("decoded %d targets: %v", len(ts), err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/target")
		})
	}
}
