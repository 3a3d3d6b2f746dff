// Package bench compares the per-request cost of
// github.com/typedsession/session with alexedwards/scs and
// gorilla/sessions, measured in one run on one machine. It is a separate
// module so that the main module never depends on the libraries it is
// compared with. Run it with:
//
//	cd bench && go test -run '^$' -bench . -benchmem
package bench
