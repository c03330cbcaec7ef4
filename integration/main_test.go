package integration

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// A child process started by the network-namespace test runs one node
	// inside its namespace instead of the tests (see netns_test.go).
	if os.Getenv(netnsChildEnv) != "" {
		os.Exit(netnsChildMain())
	}
	// So does one started by the NAT test (see nat_test.go).
	if role := os.Getenv(natRoleEnv); role != "" {
		os.Exit(natChildMain(role))
	}
	// And the victim of the hostile-peer tests (see victim_child_test.go).
	if os.Getenv(victimEnv) != "" {
		os.Exit(victimMain())
	}
	goleak.VerifyTestMain(m)
}
