package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// chromiumPath returns the Chromium to test with. Without one the test
// skips, unless CI is set (.ci/run sets it and installs Debian's chromium):
// there a missing browser fails the test.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed and CI is set: the report must be tested in a browser (.ci/run installs Debian's chromium)")
	}
	t.Skip("chromium is not installed (apt-get install chromium; .ci/run does): the report is not tested in a browser")
	return ""
}

// browser is a headless Chromium driven through the DevTools protocol over
// a pipe (--remote-debugging-pipe: JSON messages ended by a NUL byte, ours
// on its fd 3, its on fd 4), with no dependency but the browser.
type browser struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	send   *os.File
	msgs   chan cdpMessage // from the reader goroutine; closed at EOF
	read   sync.WaitGroup
	nextID int
	events []cdpMessage // received while waiting for something else
}

// cdpMessage is a DevTools protocol message: a reply (ID set) or an event.
type cdpMessage struct {
	ID        int             `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *cdpError       `json:"error,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
}

type cdpError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// cdpTimeout bounds every wait for the browser.
const cdpTimeout = 30 * time.Second

// startBrowser starts headless Chromium with a fresh profile in a temporary
// directory and no network beyond the page (the flags keep it from calling
// home); it is closed when the test ends.
func startBrowser(t *testing.T, path string) *browser {
	t.Helper()
	args := []string{
		"--headless", "--disable-gpu", "--disable-quic", "--no-first-run", "--no-default-browser-check",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
		"--disable-dev-shm-usage", "--mute-audio", "--hide-scrollbars", "--window-size=1200,900",
		"--user-data-dir=" + t.TempDir(), "--remote-debugging-pipe", "about:blank",
	}
	if os.Geteuid() == 0 {
		args = append(args, "--no-sandbox") // Chromium's sandbox refuses to run as root
	}
	theirIn, ourOut, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	ourIn, theirOut, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	b := &browser{cmd: exec.Command(path, args...), stderr: &bytes.Buffer{}, send: ourOut, msgs: make(chan cdpMessage, 256)}
	b.cmd.Stderr = b.stderr
	b.cmd.ExtraFiles = []*os.File{theirIn, theirOut} // fds 3 and 4
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("start %s: %s", path, err)
	}
	theirIn.Close()
	theirOut.Close()
	b.read.Add(1)
	go b.readLoop(ourIn)
	t.Cleanup(func() { b.close(t) })
	return b
}

// readLoop passes each message from r to b.msgs until r ends.
func (b *browser) readLoop(r io.ReadCloser) {
	defer b.read.Done()
	defer close(b.msgs)
	defer r.Close()
	br := bufio.NewReaderSize(r, 1<<20)
	for {
		raw, err := br.ReadBytes(0)
		if err != nil {
			return
		}
		var m cdpMessage
		if json.Unmarshal(raw[:len(raw)-1], &m) == nil {
			b.msgs <- m
		}
	}
}

// close asks the browser to close, kills its process group if it has not
// exited within a few seconds, and waits for it and the reader.
func (b *browser) close(t *testing.T) {
	b.nextID++
	msg, _ := json.Marshal(cdpMessage{ID: b.nextID, Method: "Browser.close"})
	b.send.Write(append(msg, 0))
	b.send.Close()
	exited := make(chan struct{})
	go func() {
		for range b.msgs { // drain, so the reader never blocks
		}
		close(exited)
	}()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Errorf("chromium did not close; killing it")
		syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
	b.read.Wait()
	b.cmd.Wait()
}

// next returns the next message, or fails the test after cdpTimeout or if
// the browser ended.
func (b *browser) next(t *testing.T, waitingFor string) cdpMessage {
	t.Helper()
	select {
	case m, ok := <-b.msgs:
		if !ok {
			b.cmd.Wait()
			t.Fatalf("chromium ended while the test waited for %s; its stderr:\n%s", waitingFor, tail(b.stderr.String(), 2000))
		}
		return m
	case <-time.After(cdpTimeout):
		t.Fatalf("no %s from chromium in %s", waitingFor, cdpTimeout)
	}
	return cdpMessage{}
}

// call sends a command (to a page's session, or to the browser when
// session is "") and decodes its result into result (if not nil); events
// that arrive meanwhile are kept for events and waitEvent.
func (b *browser) call(t *testing.T, session, method string, params, result any) {
	t.Helper()
	b.nextID++
	id := b.nextID
	p, err := json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	if params == nil {
		p = nil
	}
	msg, err := json.Marshal(cdpMessage{ID: id, Method: method, Params: p, SessionID: session})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.send.Write(append(msg, 0)); err != nil {
		t.Fatalf("%s: %s", method, err)
	}
	for {
		m := b.next(t, "the reply to "+method)
		if m.ID != id {
			if m.Method != "" {
				b.events = append(b.events, m)
			}
			continue
		}
		if m.Error != nil {
			t.Fatalf("%s: %d %s", method, m.Error.Code, m.Error.Message)
		}
		if result != nil {
			if err := json.Unmarshal(m.Result, result); err != nil {
				t.Fatalf("%s: %s in %s", method, err, m.Result)
			}
		}
		return
	}
}

// waitEvent waits until the session got an event of method.
func (b *browser) waitEvent(t *testing.T, session, method string) {
	t.Helper()
	for _, e := range b.events {
		if e.SessionID == session && e.Method == method {
			return
		}
	}
	for {
		m := b.next(t, method)
		if m.Method != "" {
			b.events = append(b.events, m)
		}
		if m.SessionID == session && m.Method == method {
			return
		}
	}
}

// tab is a browser tab attached in flat mode.
type tab struct {
	b       *browser
	session string
}

// newPage opens a tab and enables the domains whose events the checks
// read: console and exceptions (Runtime), browser log entries such as
// failed loads (Log), requests (Network) and the load event (Page).
func (b *browser) newPage(t *testing.T) *tab {
	t.Helper()
	var target struct {
		TargetID string `json:"targetId"`
	}
	b.call(t, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &target)
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	b.call(t, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &attached)
	p := &tab{b: b, session: attached.SessionID}
	for _, domain := range []string{"Runtime", "Log", "Network", "Page"} {
		b.call(t, p.session, domain+".enable", nil, nil)
	}
	return p
}

// load navigates to url and waits for its load event.
func (p *tab) load(t *testing.T, url string) {
	t.Helper()
	var nav struct {
		ErrorText string `json:"errorText"`
	}
	p.b.call(t, p.session, "Page.navigate", map[string]any{"url": url}, &nav)
	if nav.ErrorText != "" {
		t.Fatalf("navigate to %s: %s", url, nav.ErrorText)
	}
	p.b.waitEvent(t, p.session, "Page.loadEventFired")
}

// eval evaluates a JavaScript expression in the page and decodes its value.
func (p *tab) eval(t *testing.T, expr string, v any) {
	t.Helper()
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	p.b.call(t, p.session, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &res)
	if res.ExceptionDetails != nil {
		t.Fatalf("evaluate %q: %s", expr, res.ExceptionDetails.Text)
	}
	if err := json.Unmarshal(res.Result.Value, v); err != nil {
		t.Fatalf("evaluate %q: %s in %s", expr, err, res.Result.Value)
	}
}

// screenshot returns a PNG of the whole page at the window's width.
func (p *tab) screenshot(t *testing.T) []byte {
	t.Helper()
	var shot struct {
		Data []byte `json:"data"` // base64 in JSON
	}
	p.b.call(t, p.session, "Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true}, &shot)
	return shot.Data
}

// problems returns what the page did wrong so far: console errors and
// warnings, uncaught exceptions, browser log entries of level error or
// warning (a resource that failed to load, say), and requests for anything
// but allowed URLs.
func (p *tab) problems(allowed ...string) []string {
	var out []string
	for _, e := range p.b.events {
		if e.SessionID != p.session {
			continue
		}
		switch e.Method {
		case "Runtime.consoleAPICalled":
			var c struct {
				Type string `json:"type"`
				Args []struct {
					Value       any    `json:"value"`
					Description string `json:"description"`
				} `json:"args"`
			}
			if json.Unmarshal(e.Params, &c) == nil && (c.Type == "error" || c.Type == "warning" || c.Type == "assert") {
				out = append(out, fmt.Sprintf("console.%s: %v", c.Type, c.Args))
			}
		case "Runtime.exceptionThrown":
			var x struct {
				Details struct {
					Text      string `json:"text"`
					Exception struct {
						Description string `json:"description"`
					} `json:"exception"`
				} `json:"exceptionDetails"`
			}
			json.Unmarshal(e.Params, &x)
			out = append(out, fmt.Sprintf("exception: %s %s", x.Details.Text, x.Details.Exception.Description))
		case "Log.entryAdded":
			var l struct {
				Entry struct {
					Level, Source, Text, URL string
				} `json:"entry"`
			}
			if json.Unmarshal(e.Params, &l) == nil && (l.Entry.Level == "error" || l.Entry.Level == "warning") {
				out = append(out, fmt.Sprintf("log %s (%s): %s %s", l.Entry.Level, l.Entry.Source, l.Entry.Text, l.Entry.URL))
			}
		case "Network.requestWillBeSent":
			var r struct {
				Request struct {
					URL string `json:"url"`
				} `json:"request"`
			}
			json.Unmarshal(e.Params, &r)
			ok := false
			for _, a := range allowed {
				ok = ok || r.Request.URL == a
			}
			if !ok {
				out = append(out, "request: "+r.Request.URL)
			}
		}
	}
	return out
}

// tail is the end of s, at most n bytes.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
