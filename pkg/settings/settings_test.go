package settings

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/picluster/kubectl-picluster/internal/immichmetrics"
)

func TestDefaultsAreValid(t *testing.T) {
	require.NoError(t, Default().Validate())
}

func TestParseOverridesDefaults(t *testing.T) {
	s, err := Parse([]byte(`
namespaces:
  immich: photos
backup:
  schedule: "0 3 * * *"
  timeZone: Europe/Berlin
  staleAfter: 2d
  nas:
    host: nas.example.test
immich:
  deployments: [server]
`))
	require.NoError(t, err)
	assert.Equal(t, "photos", s.Namespaces.Immich)
	assert.Equal(t, "monitoring", s.Namespaces.Monitoring, "untouched keys keep their defaults")
	assert.Equal(t, "0 3 * * *", s.Backup.Schedule)
	assert.Equal(t, 48*time.Hour, s.Backup.StaleAfter.D())
	assert.Equal(t, "nas.example.test", s.Backup.NAS.Host)
	assert.Equal(t, 22, s.Backup.NAS.Port)
	assert.Equal(t, []string{"server"}, s.Immich.Deployments)
}

func TestParseEmptyIsDefault(t *testing.T) {
	for name, doc := range map[string]string{"empty": "", "comment only": "# nothing\n", "null": "null\n"} {
		t.Run(name, func(t *testing.T) {
			s, err := Parse([]byte(doc))
			require.NoError(t, err)
			assert.Equal(t, Default(), s)
		})
	}
}

func TestParseNamesTheBadKey(t *testing.T) {
	tests := map[string]struct {
		doc  string
		want []string
	}{
		"unknown top-level key":    {doc: "nmespaces: {}\n", want: []string{"unknown key nmespaces"}},
		"unknown nested key":       {doc: "backup:\n  nas:\n    hostname: x\n", want: []string{"unknown key backup.nas.hostname"}},
		"two unknown keys":         {doc: "immich:\n  foo: 1\n  bar: 2\n", want: []string{"unknown key immich.bar", "unknown key immich.foo"}},
		"wrong type":               {doc: "backup:\n  retention: many\n", want: []string{"key backup.retention", "whole number"}},
		"wrong type nested":        {doc: "immich:\n  thresholds:\n    thumbnailQueue: [1]\n", want: []string{"key immich.thresholds.thumbnailQueue"}},
		"bad duration":             {doc: "backup:\n  staleAfter: soon\n", want: []string{"key backup.staleAfter", "soon"}},
		"zero duration":            {doc: "backup:\n  staleAfter: 0s\n", want: []string{"key backup.staleAfter", "greater than 0"}},
		"bad cron":                 {doc: "backup:\n  schedule: \"0 2 * *\"\n", want: []string{"key backup.schedule", "not a cron expression"}},
		"TZ inside schedule":       {doc: "backup:\n  schedule: \"TZ=UTC 0 2 * * 0\"\n", want: []string{"key backup.schedule", "backup.timeZone"}},
		"unknown time zone":        {doc: "backup:\n  timeZone: Mars/Olympus\n", want: []string{"key backup.timeZone", "Mars/Olympus"}},
		"empty time zone":          {doc: "backup:\n  timeZone: \"\"\n", want: []string{"key backup.timeZone"}},
		"empty NAS host":           {doc: "backup:\n  nas:\n    host: \"\"\n", want: []string{"key backup.nas.host", "must not be empty"}},
		"zero retention":           {doc: "backup:\n  retention: 0\n", want: []string{"key backup.retention", "at least 1"}},
		"negative retention":       {doc: "backup:\n  retention: -3\n", want: []string{"key backup.retention"}},
		"unpinned image":           {doc: "backup:\n  image: postgres:latest\n", want: []string{"key backup.image", "pinned"}},
		"bad namespace":            {doc: "namespaces:\n  immich: Photos_App\n", want: []string{"key namespaces.immich"}},
		"bad port":                 {doc: "postgres:\n  port: 70000\n", want: []string{"key postgres.port"}},
		"bad metric name":          {doc: "immich:\n  metrics:\n    videoQueue: immich.queues.video\n", want: []string{"key immich.metrics.videoQueue"}},
		"bad store kind":           {doc: "externalSecrets:\n  storeKind: Vault\n", want: []string{"key externalSecrets.storeKind"}},
		"relative NAS path":        {doc: "backup:\n  nas:\n    path: backups\n", want: []string{"key backup.nas.path"}},
		"bad runbook url":          {doc: "runbooks:\n  baseURL: runbooks/\n", want: []string{"key runbooks.baseURL"}},
		"service port name":        {doc: "prometheus:\n  port: \"not a port!\"\n", want: []string{"key prometheus.port"}},
		"not a mapping":            {doc: "- a\n- b\n", want: []string{"mapping"}},
		"broken YAML":              {doc: "backup: [\n", want: []string{"YAML"}},
		"unpinned upload image":    {doc: "backup:\n  uploadImage: instrumentisto/rsync-ssh\n", want: []string{"key backup.uploadImage", "pinned"}},
		"bad video success metric": {doc: "immich:\n  metrics:\n    videoSuccess: \"\"\n", want: []string{"key immich.metrics.videoSuccess"}},
		"bad metadata metric":      {doc: "immich:\n  metrics:\n    metadataSuccess: a-b\n", want: []string{"key immich.metrics.metadataSuccess"}},
		"bad duration unit":        {doc: "immich:\n  metrics:\n    requestDurationUnit: ms\n", want: []string{"key immich.metrics.requestDurationUnit", "ms"}},
		"zero target missing for":  {doc: "immich:\n  thresholds:\n    targetMissingFor: 0s\n", want: []string{"key immich.thresholds.targetMissingFor"}},
		"zero slow requests for":   {doc: "immich:\n  thresholds:\n    slowRequestsFor: 0s\n", want: []string{"key immich.thresholds.slowRequestsFor"}},
		"empty known hosts ref":    {doc: "externalSecrets:\n  knownHosts:\n    property: \"\"\n", want: []string{"key externalSecrets.knownHosts.property"}},
		"empty rbac group":         {doc: "rbac:\n  group: \"\"\n", want: []string{"key rbac.group"}},
		"bad service account":      {doc: "rbac:\n  serviceAccount: Cron_Job\n", want: []string{"key rbac.serviceAccount"}},
		"same metrics ports":       {doc: "immich:\n  microservicesMetricsPort: 8081\n", want: []string{"key immich.microservicesMetricsPort", "8081"}},
		"backup in monitoring ns":  {doc: "namespaces:\n  backup: monitoring\n", want: []string{"key namespaces.backup", "must differ"}},
		"immich in monitoring ns":  {doc: "namespaces:\n  immich: monitoring\n", want: []string{"key namespaces.immich", "must differ"}},
		"unknown provider":         {doc: "externalSecrets:\n  provider: vault\n", want: []string{"key externalSecrets.provider", "onepasswordSDK", "vault"}},
		"unknown postgres major":   {doc: "postgres:\n  majorVersion: 9\n", want: []string{"key postgres.majorVersion", "9", "backup.image"}},
		"several bad keys at once": {doc: "backup:\n  retention: 0\n  nas:\n    host: \"\"\n", want: []string{"key backup.retention", "key backup.nas.host"}},
		// issue 16: what YAML-to-JSON would silently drop
		"duplicate top-level key": {doc: "backup:\n  retention: 5\nnamespaces: {}\nbackup:\n  schedule: \"0 3 * * *\"\n", want: []string{"key backup: given twice (lines 1 and 4)"}},
		"duplicate nested key":    {doc: "backup:\n  nas:\n    host: a\n    host: b\n", want: []string{"key backup.nas.host: given twice"}},
		"duplicate in a list":     {doc: "immich:\n  deployments:\n    - {a: 1, a: 2}\n", want: []string{"key immich.deployments[0].a: given twice"}},
		"second document":         {doc: "backup:\n  retention: 5\n---\nbackup:\n  retention: 9\n", want: []string{"second YAML document starts at line 3"}},
		// issue 16: values the backup would fail on when it first runs
		"NAS path with a space":      {doc: "backup:\n  nas:\n    path: /volume1/my backups\n", want: []string{"key backup.nas.path", "' '"}},
		"NAS path with a quote":      {doc: "backup:\n  nas:\n    path: /volume1/it's\n", want: []string{"key backup.nas.path", "'\\''"}},
		"NAS path with a wildcard":   {doc: "backup:\n  nas:\n    path: /volume1/*\n", want: []string{"key backup.nas.path"}},
		"NAS path with a dollar":     {doc: "backup:\n  nas:\n    path: /volume1/$HOME\n", want: []string{"key backup.nas.path"}},
		"NAS path with a newline":    {doc: "backup:\n  nas:\n    path: \"/volume1/a\\nb\"\n", want: []string{"key backup.nas.path"}},
		"NAS host with a user":       {doc: "backup:\n  nas:\n    host: pi@nas\n", want: []string{"key backup.nas.host", "pi@nas"}},
		"NAS host with a space":      {doc: "backup:\n  nas:\n    host: my nas\n", want: []string{"key backup.nas.host"}},
		"NAS host an option":         {doc: "backup:\n  nas:\n    host: -oProxyCommand=x\n", want: []string{"key backup.nas.host"}},
		"NAS host IPv6":              {doc: "backup:\n  nas:\n    host: \"fd00::60\"\n", want: []string{"key backup.nas.host", "IPv6"}},
		"NAS user with a colon":      {doc: "backup:\n  nas:\n    user: \"pi:x\"\n", want: []string{"key backup.nas.user"}},
		"NAS user with an at":        {doc: "backup:\n  nas:\n    user: pi@home\n", want: []string{"key backup.nas.user"}},
		"NAS user an option":         {doc: "backup:\n  nas:\n    user: -l\n", want: []string{"key backup.nas.user"}},
		"empty NAS user":             {doc: "backup:\n  nas:\n    user: \"\"\n", want: []string{"key backup.nas.user"}},
		"database name with space":   {doc: "postgres:\n  database: my db\n", want: []string{"key postgres.database"}},
		"schedule never fires":       {doc: "backup:\n  schedule: \"0 2 30 2 *\"\n", want: []string{"key backup.schedule", "never fires"}},
		"schedule the parser panics": {doc: "backup:\n  schedule: \"TZ=0\"\n", want: []string{"key backup.schedule"}},
		"CRON_TZ in schedule":        {doc: "backup:\n  schedule: \"CRON_TZ=UTC 0 2 * * 0\"\n", want: []string{"key backup.schedule", "backup.timeZone"}},
		"cron job name too long":     {doc: "backup:\n  cronJob: " + strings.Repeat("a", 53) + "\n", want: []string{"key backup.cronJob", "52"}},
		"image with upper case":      {doc: "backup:\n  image: Postgres:16\n", want: []string{"key backup.image", "not an image reference"}},
		"image with a bad digest":    {doc: "backup:\n  image: postgres@sha256:abc\n", want: []string{"key backup.image", "not an image reference"}},
		"image with a space":         {doc: "backup:\n  uploadImage: \"rsync ssh:1\"\n", want: []string{"key backup.uploadImage"}},
		"image without a tag":        {doc: "backup:\n  uploadImage: registry.example.test:5000/rsync\n", want: []string{"key backup.uploadImage", "pinned"}},
		// issue 14: the drill CronJob, checked whether enabled or not
		"drill unknown key":          {doc: "restoreDrill:\n  enable: true\n", want: []string{"unknown key restoreDrill.enable"}},
		"drill enabled not a bool":   {doc: "restoreDrill:\n  enabled: weekly\n", want: []string{"key restoreDrill.enabled"}},
		"drill bad cron":             {doc: "restoreDrill:\n  schedule: \"0 4 * *\"\n", want: []string{"key restoreDrill.schedule", "not a cron expression"}},
		"drill TZ in schedule":       {doc: "restoreDrill:\n  schedule: \"CRON_TZ=UTC 0 4 * * 0\"\n", want: []string{"key restoreDrill.schedule", "restoreDrill.timeZone"}},
		"drill unknown time zone":    {doc: "restoreDrill:\n  timeZone: Mars/Olympus\n", want: []string{"key restoreDrill.timeZone", "Mars/Olympus"}},
		"drill zero staleAfter":      {doc: "restoreDrill:\n  staleAfter: 0s\n", want: []string{"key restoreDrill.staleAfter", "greater than 0"}},
		"drill zero jobs":            {doc: "restoreDrill:\n  jobs: 0\n", want: []string{"key restoreDrill.jobs", "at least 1"}},
		"drill cron job name":        {doc: "restoreDrill:\n  cronJob: Drill\n", want: []string{"key restoreDrill.cronJob"}},
		"drill same name as backup":  {doc: "restoreDrill:\n  cronJob: postgres-backup\n", want: []string{"key restoreDrill.cronJob", "must differ from backup.cronJob"}},
		"database too long to drill": {doc: "postgres:\n  database: " + strings.Repeat("d", 43) + "\n", want: []string{"key postgres.database", "scratch database"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc))
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

// Values at the edge of what is refused are accepted.
func TestParseAcceptsWhatTheBackupCanUse(t *testing.T) {
	docs := map[string]string{
		"trailing document marker": "backup:\n  retention: 5\n---\n",
		"leading document marker":  "---\nbackup:\n  retention: 5\n",
		"same key in two mappings": "backup:\n  nas:\n    port: 22\npostgres:\n  port: 5432\n",
		"NAS path punctuation":     "backup:\n  nas:\n    path: /volume1/bäckups/pi-5_2026+immich@home,%=~.d\n",
		"NAS host name":            "backup:\n  nas:\n    host: NAS.fritz.box\n",
		"NAS user":                 "backup:\n  nas:\n    user: backup_user.1-a\n",
		"image by digest":          "backup:\n  uploadImage: ghcr.io/x/rsync@sha256:" + strings.Repeat("a", 64) + "\n",
		"image by registry port":   "backup:\n  uploadImage: registry.example.test:5000/rsync:3.4\n",
		"cron descriptor":          "backup:\n  schedule: \"@weekly\"\n",
		"drill on":                 "restoreDrill:\n  enabled: true\n  schedule: \"0 5 * * 1\"\n  timeZone: Europe/Berlin\n  staleAfter: 15d\n  jobs: 2\n",
		"longest drillable name":   "postgres:\n  database: " + strings.Repeat("d", 42) + "\n",
	}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(doc))
			require.NoError(t, err)
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	t.Run("missing default file means defaults", func(t *testing.T) {
		s, err := Load(filepath.Join(dir, "absent.yaml"), false)
		require.NoError(t, err)
		assert.Equal(t, Default(), s)
	})
	t.Run("missing explicit file is an error", func(t *testing.T) {
		_, err := Load(filepath.Join(dir, "absent.yaml"), true)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "absent.yaml")
	})
	t.Run("errors name the file", func(t *testing.T) {
		p := filepath.Join(dir, "bad.yaml")
		require.NoError(t, os.WriteFile(p, []byte("backup:\n  retention: 0\n"), 0o600))
		_, err := Load(p, false)
		require.Error(t, err)
		assert.Contains(t, err.Error(), p)
		assert.Contains(t, err.Error(), "key backup.retention")
	})
}

func TestDefaultPath(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", "/xdg")
	assert.Equal(t, "/xdg/picluster/config.yaml", DefaultPath())
}

func TestDurationRoundTrip(t *testing.T) {
	d, err := ParseDuration("1w1d")
	require.NoError(t, err)
	b, err := d.MarshalJSON()
	require.NoError(t, err)
	assert.JSONEq(t, `"8d"`, string(b))
	var back Duration
	require.NoError(t, back.UnmarshalJSON(b))
	assert.Equal(t, d, back)
}

// alpineEndOfLife is the end of support of each Alpine release, from
// https://alpinelinux.org/releases/ (main repository; read 2026-12).
var alpineEndOfLife = map[string]string{
	"3.17": "2024-11-22", "3.18": "2025-05-09", "3.19": "2025-11-01", "3.20": "2026-04-01",
	"3.21": "2026-11-01", "3.22": "2027-05-01", "3.23": "2027-11-01",
}

// No default image runs on an Alpine release that no longer gets security fixes
// (the seed's upload image was alpine3.18). When a release reaches its end, this
// fails: move the tags on.
func TestDefaultImagesAreOnASupportedAlpine(t *testing.T) {
	s := Default()
	images := map[string]string{"backup.uploadImage": s.Backup.UploadImage, "backup image (default)": s.BackupImage()}
	for _, major := range PostgresMajorVersions() {
		image, _ := PostgresImage(major)
		images[fmt.Sprintf("postgres %d", major)] = image
	}
	alpine := regexp.MustCompile(`alpine(3\.\d+)`)
	for name, image := range images {
		t.Run(name, func(t *testing.T) {
			m := alpine.FindStringSubmatch(image)
			require.NotNil(t, m, "%s: an Alpine-based image names its release in the tag", image)
			eol, ok := alpineEndOfLife[m[1]]
			require.True(t, ok, "%s: Alpine %s is not in the table: add its end of life from alpinelinux.org/releases", image, m[1])
			end, err := time.Parse(time.DateOnly, eol)
			require.NoError(t, err)
			assert.True(t, time.Now().Before(end), "%s is on Alpine %s, end of life %s", image, m[1], eol)
		})
	}
}

func TestBackupImageFollowsThePostgresMajorVersion(t *testing.T) {
	s := Default()
	assert.Equal(t, 14, s.Postgres.MajorVersion, "the seed's server")
	assert.Regexp(t, `^postgres:14\.\d+-alpine`, s.BackupImage())
	s, err := Parse([]byte("postgres:\n  majorVersion: 16\n"))
	require.NoError(t, err)
	assert.Regexp(t, `^postgres:16\.\d+-alpine`, s.BackupImage())
	s, err = Parse([]byte("postgres:\n  majorVersion: 12\nbackup:\n  image: registry.example.test/pg:17.2\n"))
	require.NoError(t, err, "an image of one's own for a version the plugin has none for")
	assert.Equal(t, "registry.example.test/pg:17.2", s.BackupImage())
	for _, major := range PostgresMajorVersions() {
		image, _ := PostgresImage(major)
		assert.Regexp(t, fmt.Sprintf(`^postgres:%d\.\d+-alpine`, major), image, "the client tools of the server's own major")
	}
}

// The default metric names are series Immich really exports (the fixture is written from
// Immich's telemetry source), so the bundled alerts select something on a real server.
func TestDefaultMetricNamesAreWhatImmichExports(t *testing.T) {
	m := Default().Immich.Metrics
	exported := map[string]bool{}
	for _, n := range immichmetrics.Names() {
		exported[n] = true
	}
	for key, name := range map[string]string{
		"thumbnailQueue": m.ThumbnailQueue, "videoQueue": m.VideoQueue, "metadataQueue": m.MetadataQueue,
		"thumbnailSuccess": m.ThumbnailSuccess, "thumbnailFailed": m.ThumbnailFailed,
		"videoSuccess": m.VideoSuccess, "metadataSuccess": m.MetadataSuccess,
		"requestDuration (its _bucket series)": m.RequestDuration + "_bucket",
	} {
		assert.True(t, exported[name], "immich.metrics.%s: Immich exports no %s", key, name)
	}
	assert.Equal(t, "milliseconds", m.RequestDurationUnit, "http.server.duration is recorded in ms")
}
