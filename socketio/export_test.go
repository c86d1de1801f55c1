package socketio

// RecoveryState reports how many sessions and logged packets namespace n
// keeps for connection state recovery.
func RecoveryState(n *Namespace) (sessions, packets int) {
	if n.rec == nil {
		return 0, 0
	}
	n.rec.mu.Lock()
	defer n.rec.mu.Unlock()
	return len(n.rec.sessions), len(n.rec.log)
}
