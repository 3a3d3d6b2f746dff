package session

// SetPersist decides, for this session only, whether its cookie outlives
// the browser session: call it at login with the "remember me" box. A
// persistent cookie carries an expiry equal to the session's absolute
// deadline; otherwise the browser drops it when it closes. The choice is
// stored with the session, so it holds on later requests, across
// renewals and on every instance; without it, CookieConfig.Persist
// applies. The session is written, and a changed choice sends the cookie
// again. A visitor without a session gets none: call it after Set or
// Renew. It has no effect on bearer tokens.
func (s *Session[T]) SetPersist(persist bool) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if err := s.beginChange("SetPersist"); err != nil {
		return err
	}
	v := int8(-1)
	if persist {
		v = 1
	}
	if s.persistent() != persist {
		s.resend = true
	}
	s.persist = v
	s.ops = append(s.ops, op[T]{persist: v})
	s.plan(write)
	return nil
}

// persistent reports whether the session's cookie outlives the browser
// session.
func (s *Session[T]) persistent() bool {
	switch s.persist {
	case 1:
		return true
	case -1:
		return false
	}
	return s.m.cookie.Persist
}

// persistExt is the envelope's persist extension for the session's choice.
func (s *Session[T]) persistExt() []byte {
	switch s.persist {
	case 1:
		return []byte{1}
	case -1:
		return []byte{0}
	}
	return nil
}

// adoptPersist sets the session's choice from a loaded record's persist
// extension; a value this build does not know leaves the default.
func (s *Session[T]) adoptPersist(b []byte) {
	switch {
	case len(b) != 1:
	case b[0] == 1:
		s.persist = 1
	case b[0] == 0:
		s.persist = -1
	}
}
