package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestTemplateAgentLogsTheTxMessageItReceives(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out); err != nil {
		t.Fatalf("run: %s\n%s", err, out.String())
	}
	// "hello from A", as the template's TxMessage prints it.
	want := "B's agent logged: gossipMempoolRoutine received [TxMessage 68656C6C6F2066726F6D2041]"
	if !strings.Contains(out.String(), want) {
		t.Fatalf("output lacks %q:\n%s", want, out.String())
	}
}

func TestRunGivesUpWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	err := run(ctx, &out)
	if err == nil {
		t.Fatalf("run with a canceled context succeeded:\n%s", out.String())
	}
	// Either the dial or the wait for the log notices the context.
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("run = %v, want an error wrapping context.Canceled", err)
	}
}
