package endpoint

import (
	"net/url"
	"strings"
)

// Mask stands for a credential in every message: the one net/http writes into its
// own errors for a URL's password ("Get \"http://user:***@host/\""), so a message
// never shows two different masks (url.URL.Redacted writes "xxxxx").
const Mask = "***"

// Redacted is u as text with its password, if any, replaced by Mask.
func Redacted(u *url.URL) string {
	if u == nil {
		return ""
	}
	if _, has := u.User.Password(); !has {
		return u.String()
	}
	// as net/http's stripPassword does: url.UserPassword would escape the mask
	return strings.Replace(u.Redacted(), ":xxxxx@", ":"+Mask+"@", 1)
}
