package mempool

import (
	"testing"
	"time"
)

// TestIngestBudgetTrimsThenDisconnectsOnlyFarOver feeds the ingest budget
// messages at steady rates, on a simulated clock: within the budget nothing
// is dropped; a little over, the excess is dropped but the peer is never
// far over; at twice the budget it is far over within a few seconds.
func TestIngestBudgetTrimsThenDisconnectsOnlyFarOver(t *testing.T) {
	cfg := defaultAgentConfig()
	cfg.ingestBytes, cfg.ingestMsgs = 1<<20, 1000
	for _, tc := range []struct {
		name       string
		factor     float64 // of the message budget
		wantDrops  bool
		wantFarOut time.Duration // 0: never within a minute
	}{
		{"at 0.9 of the budget", 0.9, false, 0},
		{"at 1.1 of the budget", 1.1, true, 0},
		{"at twice the budget", 2, true, 4 * time.Second},
		{"at ten times the budget", 10, true, 400 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newIngestState(cfg, 1<<20)
			start := time.Unix(1_000_000, 0)
			step := time.Duration(float64(time.Second) / (tc.factor * float64(cfg.ingestMsgs)))
			drops := 0
			for now := start; now.Sub(start) < time.Minute; now = now.Add(step) {
				ok, farOver := st.admit(100, now)
				if !ok {
					drops++
				}
				if farOver {
					if tc.wantFarOut == 0 || now.Sub(start) > tc.wantFarOut {
						t.Fatalf("far over after %s (want %v)", now.Sub(start), tc.wantFarOut)
					}
					return
				}
			}
			if tc.wantFarOut != 0 {
				t.Fatal("never far over in a minute")
			}
			if (drops > 0) != tc.wantDrops {
				t.Fatalf("%d drops", drops)
			}
		})
	}
}
