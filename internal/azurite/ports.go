package azurite

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"
)

// freePorts asks the kernel for n distinct free loopback ports. All listeners stay open
// until every port is chosen, so the same port is never handed out twice; another
// process could still take one before Azurite binds it, which is unlikely enough here.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		ln, err := net.Listen("tcp", net.JoinHostPort(loopbackHost, "0"))
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// waitForPorts returns once every port accepts a TCP connection, or fails when the
// process exits (exited closes) or ctx ends.
func waitForPorts(ctx context.Context, exited <-chan struct{}, ports ...int) error {
	const pollInterval = 50 * time.Millisecond
	pending := append([]int(nil), ports...)
	for {
		var still []int
		for _, port := range pending {
			conn, err := net.DialTimeout("tcp", net.JoinHostPort(loopbackHost, strconv.Itoa(port)), time.Second)
			if err != nil {
				still = append(still, port)
				continue
			}
			_ = conn.Close()
		}
		pending = still
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-exited:
			return errors.New("azurite exited before listening")
		case <-ctx.Done():
			return fmt.Errorf("ports %v not listening: %w", pending, ctx.Err())
		case <-time.After(pollInterval):
		}
	}
}
