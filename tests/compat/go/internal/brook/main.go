package brook

import (
	"fmt"
	"os"
	"testing"
	"time"
)

// Main is a TestMain body: it starts a cluster of n nodes, hands it to
// setup (which stores it for the package's tests), runs the tests, prints
// the nodes' log tails if any failed, and stops the cluster.
func Main(m *testing.M, n int, setup func(*Cluster)) {
	started := time.Now()
	c, err := Start(n, 90*time.Second)
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting a %d-node Brook cluster: %v\n", n, err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "%d-node Brook cluster up in %.1fs at %v\n", n, time.Since(started).Seconds(), c.Bootstrap())
	setup(c)
	code := m.Run()
	if code != 0 {
		fmt.Fprintln(os.Stderr, c.Logs())
	}
	if err := c.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stopping the cluster: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}
