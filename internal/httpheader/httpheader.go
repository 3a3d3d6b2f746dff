// Package httpheader holds the HTTP header edits that the session
// middleware and the guards share.
package httpheader

import (
	"net/http"
	"strings"
)

// AddVary adds field to h's Vary header unless it is listed already (in
// any case) or Vary is "*".
func AddVary(h http.Header, field string) {
	for _, v := range h.Values("Vary") {
		for f := range strings.SplitSeq(v, ",") {
			f = strings.TrimSpace(f)
			if f == "*" || strings.EqualFold(f, field) {
				return
			}
		}
	}
	h.Add("Vary", field)
}
