package devserver

import (
	"fmt"
	"net"
	"strconv"
)

// freePorts returns n distinct TCP ports that are free on ip and not in
// exclude (ports the caller asked for by number or that other listeners
// will bind, which are free now but not yet bound: the kernel may offer
// them again). All listeners are held open until every port is chosen, so
// the ports differ from each other; another process may still take one
// before the server binds it. A held port is never offered again, so after
// n+len(exclude) listens n ports are found, however the kernel picks: where
// exclude covers most of its ephemeral range (Linux hands listeners on
// port 0 even ports first), nearly every offer may be excluded.
func freePorts(ip string, n int, exclude map[int]bool) ([]int, error) {
	listeners := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for tries := 0; len(ports) < n; tries++ {
		if tries >= n+len(exclude) {
			return nil, fmt.Errorf("finding %d free ports on %s: the kernel keeps offering excluded ones", n, ip)
		}
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			return nil, fmt.Errorf("finding a free port on %s: %w", ip, err)
		}
		listeners = append(listeners, l) // held, even if excluded, so it is not offered again
		if port := l.Addr().(*net.TCPAddr).Port; !exclude[port] {
			ports = append(ports, port)
		}
	}
	return ports, nil
}

// checkPortFree reports an error if ip:port cannot be bound right now.
func checkPortFree(ip string, port int) error {
	l, err := net.Listen("tcp", hostPort(ip, port))
	if err != nil {
		return err
	}
	return l.Close()
}

func hostPort(ip string, port int) string {
	return net.JoinHostPort(ip, strconv.Itoa(port))
}
