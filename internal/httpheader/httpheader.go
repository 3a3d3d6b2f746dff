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
	// "Vary" is in canonical form: index the map directly rather than
	// canonicalise the key twice on every response.
	for _, v := range h["Vary"] {
		for f := range strings.SplitSeq(v, ",") {
			f = strings.TrimSpace(f)
			if f == "*" || strings.EqualFold(f, field) {
				return
			}
		}
	}
	h["Vary"] = append(h["Vary"], field)
}
