package guard

import (
	"encoding/json"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// Denial describes a refused request, for a Responder.
type Denial struct {
	// Status is the HTTP status to answer with: 401, 403, 503, a status
	// given to Deny, or 500 for a guard used outside the session
	// middleware.
	Status int

	// Title is a short summary of the problem; http.StatusText(Status)
	// unless set otherwise.
	Title string

	// Detail explains the refusal to the client. It never holds internal
	// error text.
	Detail string

	// Err is the cause: ErrNoSession, ErrForbidden, the store's error
	// (wrapping backend.ErrUnavailable), or the error a check returned.
	// It is for logs and responders, not for the client.
	Err error

	// LoginURL is set for a 401 when the guard has WithLoginRedirect: the
	// login URL with its next parameter. Respond redirects browsers there.
	LoginURL string
}

// problem is an RFC 9457 problem details object.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
}

// Respond is the default Responder. It writes d in the form the client
// asks for in its Accept header:
//
//   - clients that accept application/json or application/problem+json
//     (or another +json type) at least as much as text/html get an RFC
//     9457 application/problem+json body with type "about:blank", title,
//     status and detail;
//   - clients preferring text/html (browsers navigating) are redirected
//     to d.LoginURL with 303 See Other if it is set, which the guard does
//     for 401s under WithLoginRedirect, and otherwise get text/plain;
//   - everyone else gets text/plain: "Title: Detail".
//
// Wildcards such as */* express no preference and lead to text/plain.
// Applications may call Respond for their own errors too, to answer them
// in the same forms.
func Respond(w http.ResponseWriter, r *http.Request, d Denial) {
	if d.Status < 100 || d.Status > 999 {
		d.Status = http.StatusInternalServerError
	}
	if d.Title == "" {
		d.Title = http.StatusText(d.Status)
	}
	switch preferred(r.Header.Values("Accept")) {
	case formatProblem:
		b, err := json.Marshal(problem{Type: "about:blank", Title: d.Title, Status: d.Status, Detail: d.Detail})
		if err != nil { // cannot happen: strings and an int
			b = []byte(`{"type":"about:blank","status":` + strconv.Itoa(d.Status) + `}`)
		}
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(d.Status)
		_, _ = w.Write(append(b, '\n'))
		return
	case formatHTML:
		if d.LoginURL != "" {
			http.Redirect(w, r, d.LoginURL, http.StatusSeeOther)
			return
		}
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(d.Status)
	msg := d.Title
	if d.Detail != "" {
		msg += ": " + d.Detail
	}
	_, _ = w.Write([]byte(msg + "\n"))
}

// PrefersHTML reports whether r's Accept header ranks HTML above JSON,
// which is how the guards choose between a login redirect and a problem
// document. Handlers use it to answer their own requests the same way:
// a browser submitting a form gets a redirect, a JSON client gets JSON.
func PrefersHTML(r *http.Request) bool {
	return preferred(r.Header.Values("Accept")) == formatHTML
}

type format int

const (
	formatText format = iota
	formatProblem
	formatHTML
)

// preferred picks the response format from Accept header values. Only
// explicitly named JSON and HTML types count; the higher quality wins and
// JSON wins ties.
func preferred(accept []string) format {
	var qJSON, qHTML float64
	for _, line := range accept {
		for rng := range strings.SplitSeq(line, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(rng))
			if err != nil {
				continue
			}
			q := 1.0
			if s, ok := params["q"]; ok {
				f, err := strconv.ParseFloat(s, 64)
				if err != nil || f < 0 || f > 1 {
					continue
				}
				q = f
			}
			switch {
			case mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"):
				qJSON = max(qJSON, q)
			case mt == "text/html" || mt == "application/xhtml+xml":
				qHTML = max(qHTML, q)
			}
		}
	}
	switch {
	case qJSON > 0 && qJSON >= qHTML:
		return formatProblem
	case qHTML > 0:
		return formatHTML
	default:
		return formatText
	}
}
