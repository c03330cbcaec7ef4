package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// netnsLab makes the network namespaces of one test, named uniquely for
// the run, and removes them (with their links) when the test ends. Nothing
// is added to the namespace the tests run in, so the labs' traffic has no
// way out. A test on a machine without iproute2, or without the privileges
// to make a namespace, is skipped.
type netnsLab struct {
	t      *testing.T
	ipCmd  string
	prefix string
	made   int
}

func newNetnsLab(t *testing.T) *netnsLab {
	t.Helper()
	ipCmd, err := exec.LookPath("ip")
	if err != nil {
		t.Skip("network namespaces: no ip command (install iproute2)")
	}
	sum := sha256.Sum256([]byte(t.TempDir()))
	return &netnsLab{t: t, ipCmd: ipCmd, prefix: "sy" + hex.EncodeToString(sum[:4])}
}

// ip runs the ip command.
func (l *netnsLab) ip(args ...string) error {
	out, err := exec.Command(l.ipCmd, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// must runs the ip command and fails the test if it fails.
func (l *netnsLab) must(args ...string) {
	l.t.Helper()
	if err := l.ip(args...); err != nil {
		l.t.Fatal(err)
	}
}

// add makes the namespace name (prefixed for this run), with its loopback
// up, and returns its full name. It skips the test if the first namespace
// cannot be made.
func (l *netnsLab) add(name string) string {
	l.t.Helper()
	ns := l.prefix + "-" + name
	if err := l.ip("netns", "add", ns); err != nil {
		if l.made == 0 {
			l.t.Skipf("network namespaces: cannot create one (needs root with CAP_NET_ADMIN and CAP_SYS_ADMIN): %s", err)
		}
		l.t.Fatal(err)
	}
	l.made++
	l.t.Cleanup(func() {
		if err := l.ip("netns", "del", ns); err != nil { // takes its veth ends along
			l.t.Errorf("cleanup: %s", err)
		}
	})
	l.must("-n", ns, "link", "set", "lo", "up")
	return ns
}

// command returns this test binary, to be run inside namespace ns with env
// added to its environment; TestMain sends it to the child's role.
func (l *netnsLab) command(ctx context.Context, ns string, env ...string) *exec.Cmd {
	l.t.Helper()
	exe, err := os.Executable()
	if err != nil {
		l.t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, l.ipCmd, "netns", "exec", ns, exe)
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// testChild is a child process started by startChild, and the lines it
// prints.
type testChild struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr bytes.Buffer
	lines  chan string // closed when its stdout ends
	early  []string    // lines read while awaiting another
}

// startChild runs this test binary in namespace ns with env added (see
// netnsLab.command), reading its stdout by lines; name is how messages call
// it. When the test ends, its stdin is closed (the children run until
// then) and it must exit cleanly.
func startChild(t *testing.T, lab *netnsLab, ctx context.Context, ns, name string, env ...string) *testChild {
	t.Helper()
	c := &testChild{cmd: lab.command(ctx, ns, env...), lines: make(chan string, 16)}
	c.cmd.Stderr = &c.stderr
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start %s: %s", name, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(c.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		c.stdin.Close()
		for range c.lines { // unread lines
		}
		<-done
		if err := c.cmd.Wait(); err != nil {
			t.Errorf("%s exited: %s; its stderr:\n%s", name, err, tail(c.stderr.String(), 30000))
		} else if t.Failed() && c.stderr.Len() > 0 {
			t.Logf("%s's stderr:\n%s", name, tail(c.stderr.String(), 30000))
		}
	})
	return c
}

// await returns the first line that starts with prefix (and keeps the
// others it reads for later calls), failing the test on a FAIL line, the
// end of the output, or the deadline.
func (c *testChild) await(t *testing.T, prefix string, deadline time.Time) string {
	t.Helper()
	for i, line := range c.early {
		if strings.HasPrefix(line, prefix) {
			c.early = append(c.early[:i], c.early[i+1:]...)
			return strings.TrimPrefix(line, prefix)
		}
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		select {
		case line, ok := <-c.lines:
			switch {
			case !ok:
				t.Fatalf("waiting for %q: output ended (its stderr is shown once it has exited)", prefix)
			case strings.HasPrefix(line, "FAIL "):
				t.Fatalf("waiting for %q: %s", prefix, line)
			case strings.HasPrefix(line, prefix):
				return strings.TrimPrefix(line, prefix)
			default:
				c.early = append(c.early, line)
			}
		case <-timer.C:
			t.Fatalf("no %q line in time; other lines: %q", prefix, c.early)
		}
	}
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
