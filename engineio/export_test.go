package engineio

// PollPending reports whether a polling GET is being held for s.
func PollPending(s *Session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.getActive
}
