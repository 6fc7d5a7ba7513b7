package settings

import (
	_ "crypto/sha256" // digests in image references are checked with their algorithm, as the kubelet does
	_ "crypto/sha512"
	"fmt"
	"net"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/distribution/reference"
	"github.com/robfig/cron/v3"
	"k8s.io/apimachinery/pkg/util/validation"
)

// The checks here refuse, when the settings are loaded, values that install would
// accept but the backup would fail on when it first runs (a week later): what the
// API server, the kubelet and manifests/scripts/backup.sh refuse.

// maxCronJobName is the API server's limit for a CronJob's name: 63 minus the
// 11-character suffix of its Jobs (k8s.io/kubernetes pkg/apis/batch/validation,
// ValidateCronJobCreate).
const maxCronJobName = 52

// nasUserName is what rsync's user@host:/path target and ssh pass through: no @, no
// colon, no space, and no leading - (ssh would read an option).
var nasUserName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$`)

// nasPathPunct are the punctuation characters a NAS path may hold besides letters
// and digits: backup.sh refuses quotes, spaces and wildcards (its retention filter
// rules and the remote shell would read them), and $ ` \ ; & | < > ( ) are the
// remote shell's.
const nasPathPunct = "/._-+@%,=~"

// pgDatabase is what backup.sh accepts as PGDATABASE (it names the dump files).
var pgDatabase = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9_.-]*$`)

func (v *validator) nasHost(key, host string) {
	if host == "" {
		v.add(key, "must not be empty")
		return
	}
	if ip := net.ParseIP(host); ip != nil {
		if ip.To4() == nil {
			v.add(key, "%q is an IPv6 address, which the backup's rsync target user@host:/path cannot carry; use a host name", host)
		}
		return
	}
	if msgs := validation.IsDNS1123Subdomain(strings.ToLower(host)); len(msgs) > 0 {
		v.add(key, "%q is not a host name or IPv4 address: %s", host, strings.Join(msgs, "; "))
	}
}

func (v *validator) nasUser(key, user string) {
	if !nasUserName.MatchString(user) {
		v.add(key, "%q is not a user name the backup's rsync and ssh can pass (letters, digits, _ . - up to 64 characters, not starting with . or -)", user)
	}
}

func (v *validator) nasPath(key, path string) {
	if !strings.HasPrefix(path, "/") {
		v.add(key, "must be an absolute path, got %q", path)
		return
	}
	for _, r := range path {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune(nasPathPunct, r) {
			v.add(key, "%q holds %q, which the backup cannot pass to rsync (use letters, digits and %s)", path, r, nasPathPunct)
			return
		}
	}
}

func (v *validator) database(key, name string) {
	if !pgDatabase.MatchString(name) {
		v.add(key, "%q cannot name the backup's dump files (letters, digits, _ . - and not starting with .)", name)
	}
}

// schedule checks a CronJob schedule as the API server does (robfig/cron's standard
// parser, which panics on some input, and no TZ inside), and that it ever fires.
func (v *validator) schedule(key, schedule string) {
	sched, err := parseCron(schedule)
	switch {
	case err != nil:
		v.add(key, "%q is not a cron expression: %v", schedule, err)
	case strings.Contains(schedule, "TZ"):
		v.add(key, "set the time zone with %stimeZone, not inside the schedule", strings.TrimSuffix(key, "schedule"))
	case sched.Next(time.Now()).IsZero():
		v.add(key, "%q never fires (no such date)", schedule)
	}
}

// timeZone checks a CronJob's time zone as the API server does: an IANA name.
func (v *validator) timeZone(key, tz string) {
	if tz == "" {
		v.add(key, "must be set (an IANA name such as Europe/Berlin or Etc/UTC)")
	} else if _, err := time.LoadLocation(tz); err != nil || tz == "Local" {
		v.add(key, "unknown time zone %q (use an IANA name such as Europe/Berlin or Etc/UTC)", tz)
	}
}

func parseCron(schedule string) (sched cron.Schedule, err error) {
	defer func() {
		if r := recover(); r != nil {
			sched, err = nil, fmt.Errorf("%v", r)
		}
	}()
	return cron.ParseStandard(schedule)
}

// checkImage parses an image reference as the kubelet does (distribution/reference,
// k8s.io/kubernetes pkg/util/parsers.ParseImageName) and requires it pinned by a
// tag other than latest or by a digest.
func checkImage(image string) error {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return fmt.Errorf("%q is not an image reference: %v", image, err)
	}
	_, digested := named.(reference.Digested)
	tagged, hasTag := named.(reference.Tagged)
	if digested || (hasTag && tagged.Tag() != "latest") {
		return nil
	}
	return fmt.Errorf("must be pinned by tag or digest (not latest), got %q", image)
}
