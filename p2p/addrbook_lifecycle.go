package p2p

import "time"

// Start loads the book's file, if it has one, and starts saving it
// periodically. A missing file is not an error. A bad file (empty, truncated,
// not JSON, of another version, not a regular file) is moved aside to
// "<path>.bad-<timestamp>" and the book starts empty; a file with some invalid
// entries is loaded without them and copied aside. Either way a warning is
// logged and LoadErr tells why: Start itself fails only after Stop
// (ErrAddrBookStopped). Calling Start again does nothing.
func (a *AddrBook) Start() error {
	a.lifeMu.Lock()
	defer a.lifeMu.Unlock()
	if a.stopped {
		return ErrAddrBookStopped
	}
	if a.started {
		return nil
	}
	a.started = true
	if a.filePath == "" {
		return nil
	}
	a.load()
	if a.cfg.saveInterval > 0 {
		a.quit = make(chan struct{})
		a.done = make(chan struct{})
		go a.saveRoutine(a.quit, a.done)
	}
	return nil
}

// Stop stops the periodic saver and, if the book was started and has
// changed, saves it once (a failure is logged). When Stop returns no
// goroutine of the book is left. Calling Stop again does nothing; the book
// stays usable in memory but cannot be started again.
func (a *AddrBook) Stop() {
	a.lifeMu.Lock()
	defer a.lifeMu.Unlock()
	if a.stopped {
		return
	}
	a.stopped = true
	if !a.started {
		return
	}
	if a.quit != nil {
		close(a.quit)
		<-a.done
	}
	if err := a.saveIfChanged(); err != nil {
		log.Errorw("saving address book on stop", "file", a.filePath, "error", err)
	}
}

func (a *AddrBook) saveRoutine(quit <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(a.cfg.saveInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if err := a.saveIfChanged(); err != nil {
				log.Warnw("saving address book", "file", a.filePath, "error", err)
			}
		case <-quit:
			return
		}
	}
}

// LoadErr returns what Start found wrong with the file: nil if it was fine or
// missing, else an error wrapping ErrAddrBookFile and the specific cause
// (ErrAddrBookCorrupt, ErrAddrBookVersion, ErrAddrBookNotFile,
// ErrAddrBookInvalidEntry, or the error that prevented reading the file).
func (a *AddrBook) LoadErr() error {
	a.mtx.Lock()
	defer a.mtx.Unlock()
	return a.loadErr
}
