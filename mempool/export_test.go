package mempool

// ListenerName is the name the agent's event listener has on its Switch,
// for tests that take the listener away.
func (a *MempoolAgent) ListenerName() string { return a.listenerName() }
