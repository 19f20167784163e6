// Package brook starts a Brook cluster of real `brook server` processes for
// the Go client tests: n combined broker+controller nodes on ephemeral
// loopback ports, each with its own data directory and log file under one
// temporary directory. Every process is stopped by its handle and the
// directory removed by Stop. If the test binary dies first (a panic, `go
// test -timeout`), the kernel kills the nodes (Pdeathsig) and the directory
// stays behind with their logs. Not safe for concurrent use.
package brook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// FastSettings make failure detection and group joins quick, as the Python
// harness does (tests/compat/cluster.py).
var FastSettings = map[string]string{
	"broker.session.timeout.ms":        "4000",
	"broker.heartbeat.interval.ms":     "500",
	"group.initial.rebalance.delay.ms": "0",
	"group.min.session.timeout.ms":     "1000",
}

// Node is one `brook server` process.
type Node struct {
	ID             int
	Port           int // PLAINTEXT listener
	ControllerPort int
	DataDir        string
	LogPath        string
	cmd            *exec.Cmd
	exited         chan struct{} // closed when cmd.Wait returns
}

// Cluster is a set of combined nodes, all of them quorum voters.
type Cluster struct {
	Dir   string
	Nodes []*Node
	bin   string
}

// Binary is the brook executable under test: $BROOK_TEST_BINARY, else the
// workspace's debug build.
func Binary() (string, error) {
	if bin := os.Getenv("BROOK_TEST_BINARY"); bin != "" {
		return bin, nil
	}
	_, here, _, _ := runtime.Caller(0)
	// here = <root>/tests/compat/go/internal/brook/cluster.go
	root := filepath.Join(filepath.Dir(here), "..", "..", "..", "..", "..")
	bin := filepath.Join(root, "target", "debug", "brook")
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("no brook binary at %s (set BROOK_TEST_BINARY): %w", bin, err)
	}
	return bin, nil
}

// Start spawns n nodes and waits (at most timeout) until each listens and
// the cluster reports n unfenced brokers. On error everything started so far
// is stopped.
func Start(n int, timeout time.Duration) (*Cluster, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "brook-go-compat-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, bin: bin}
	for i := 1; i <= n; i++ {
		port, err1 := freePort()
		controllerPort, err2 := freePort()
		if err := errors.Join(err1, err2); err != nil {
			c.Stop()
			return nil, err
		}
		c.Nodes = append(c.Nodes, &Node{
			ID: i, Port: port, ControllerPort: controllerPort,
			DataDir: filepath.Join(dir, fmt.Sprintf("node%d", i)),
			LogPath: filepath.Join(dir, fmt.Sprintf("node%d.log", i)),
		})
	}
	for _, node := range c.Nodes {
		if err := c.spawn(node); err != nil {
			c.Stop()
			return nil, err
		}
	}
	deadline := time.Now().Add(timeout)
	for _, node := range c.Nodes {
		if err := node.waitListening(deadline); err != nil {
			err = fmt.Errorf("%w\n%s", err, c.Logs())
			c.Stop()
			return nil, err
		}
	}
	if err := c.waitBrokers(n, deadline); err != nil {
		err = fmt.Errorf("%w\n%s", err, c.Logs())
		c.Stop()
		return nil, err
	}
	return c, nil
}

// Bootstrap lists every node's PLAINTEXT address.
func (c *Cluster) Bootstrap() []string {
	addrs := make([]string, 0, len(c.Nodes))
	for _, node := range c.Nodes {
		addrs = append(addrs, node.Addr())
	}
	return addrs
}

// Addr is the node's PLAINTEXT address.
func (node *Node) Addr() string { return fmt.Sprintf("127.0.0.1:%d", node.Port) }

func (c *Cluster) voters() string {
	voters := make([]string, 0, len(c.Nodes))
	for _, node := range c.Nodes {
		voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", node.ID, node.ControllerPort))
	}
	return strings.Join(voters, ",")
}

func (c *Cluster) settings(node *Node) map[string]string {
	s := map[string]string{
		"node.id":                   fmt.Sprint(node.ID),
		"process.roles":             "broker,controller",
		"listeners":                 fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", node.Port, node.ControllerPort),
		"controller.listener.names": "CONTROLLER",
		"controller.quorum.voters":  c.voters(),
		"log.dirs":                  node.DataDir,
	}
	for k, v := range FastSettings {
		s[k] = v
	}
	return s
}

func (c *Cluster) spawn(node *Node) error {
	args := []string{"server"}
	for k, v := range c.settings(node) {
		args = append(args, "--set", k+"="+v)
	}
	log, err := os.OpenFile(node.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer log.Close() // the child holds its own descriptor
	cmd := exec.Command(c.bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = childEnv()
	// If the test binary dies without running Stop (a panic, `go test
	// -timeout`), the kernel kills the node rather than leaving it behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting node %d: %w", node.ID, err)
	}
	node.cmd, node.exited = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(node.exited) }()
	return nil
}

// childEnv passes no BROOK_* variable but the log filter: the broker reads
// every BROOK_* variable as a property.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BROOK_") || strings.HasPrefix(kv, "BROOK_LOG=") {
			env = append(env, kv)
		}
	}
	return env
}

func (node *Node) waitListening(deadline time.Time) error {
	for time.Now().Before(deadline) {
		select {
		case <-node.exited:
			return fmt.Errorf("node %d exited: %v", node.ID, node.cmd.ProcessState)
		default:
		}
		conn, err := net.DialTimeout("tcp", node.Addr(), 500*time.Millisecond)
		if err == nil {
			conn.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("node %d not listening on %s in time", node.ID, node.Addr())
}

// waitBrokers polls `brook cluster info` (a client neither test is about)
// until every node is a registered, unfenced broker, so topics at
// replication factor n can be created at once.
func (c *Cluster) waitBrokers(n int, deadline time.Time) error {
	var last string
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := exec.CommandContext(ctx, c.bin, "--bootstrap-server", c.Nodes[0].Addr(), "--output", "json", "cluster", "info").Output()
		cancel()
		if err == nil {
			var info struct {
				Brokers []struct {
					ID     int  `json:"id"`
					Fenced bool `json:"fenced"`
				} `json:"brokers"`
			}
			if err := json.Unmarshal(out, &info); err == nil {
				live := 0
				for _, b := range info.Brokers {
					if !b.Fenced {
						live++
					}
				}
				if live == n {
					return nil
				}
			}
			last = string(out)
		} else {
			last = err.Error()
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("cluster did not report %d unfenced brokers in time (last: %s)", n, last)
}

// Stop sends SIGTERM to every node, waits for each (SIGKILL after 20 s),
// then removes the cluster's directory.
func (c *Cluster) Stop() error {
	var errs []error
	for _, node := range c.Nodes {
		if node.cmd != nil {
			_ = node.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, node := range c.Nodes {
		if node.cmd == nil {
			continue
		}
		select {
		case <-node.exited:
		case <-time.After(20 * time.Second):
			_ = node.cmd.Process.Kill()
			<-node.exited
			errs = append(errs, fmt.Errorf("node %d ignored SIGTERM for 20s; killed", node.ID))
		}
	}
	errs = append(errs, os.RemoveAll(c.Dir))
	return errors.Join(errs...)
}

// Logs returns the tail of every node's log, for failure messages.
func (c *Cluster) Logs() string {
	var b strings.Builder
	for _, node := range c.Nodes {
		data, _ := os.ReadFile(node.LogPath)
		if len(data) > 4000 {
			data = data[len(data)-4000:]
		}
		fmt.Fprintf(&b, "--- node %d (%s) ---\n%s\n", node.ID, node.LogPath, data)
	}
	return b.String()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
