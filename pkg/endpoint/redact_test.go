package endpoint

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// One mask: ours is the one net/http writes into its own errors, so a message that
// quotes both never shows two.
func TestRedactedUsesNetHTTPsMask(t *testing.T) {
	u, err := url.Parse("http://admin:s3cret@127.0.0.1:1/api")
	require.NoError(t, err)
	assert.Equal(t, "http://admin:***@127.0.0.1:1/api", Redacted(u))

	_, err = http.Get(u.String()) //nolint:noctx // a closed port answers at once
	require.Error(t, err)
	assert.Contains(t, err.Error(), Redacted(u), "net/http masks the password the same way")
	assert.NotContains(t, err.Error(), "s3cret")

	plain, err := url.Parse("https://prom.example.test/")
	require.NoError(t, err)
	assert.Equal(t, "https://prom.example.test/", Redacted(plain))
	assert.Equal(t, "https://me@prom.example.test/", Redacted(&url.URL{Scheme: "https", Host: "prom.example.test", Path: "/", User: url.User("me")}))
}
