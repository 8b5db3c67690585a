package cli

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
)

// listen opens addr. For the host "localhost" it listens on both loopback
// addresses, 127.0.0.1 and [::1], on one port, as a browser may try either
// (net.Listen would take the first address the name resolves to only). A
// machine without IPv6 gets 127.0.0.1 alone. The others are returned for
// the log.
func listen(addr string) (ln net.Listener, also []net.Addr, err error) {
	host, port, splitErr := net.SplitHostPort(addr)
	if splitErr != nil || !strings.EqualFold(host, "localhost") {
		ln, err := net.Listen("tcp", addr)
		return ln, nil, err
	}
	ln4, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		return nil, nil, err
	}
	p := ln4.Addr().(*net.TCPAddr).Port
	ln6, err := net.Listen("tcp6", net.JoinHostPort("::1", strconv.Itoa(p)))
	if err != nil {
		return ln4, nil, nil // no IPv6 loopback here
	}
	return newMultiListener(ln4, ln6), []net.Addr{ln6.Addr()}, nil
}

// multiListener accepts on several listeners as one; Addr is the first's.
type multiListener struct {
	lns   []net.Listener
	conns chan net.Conn
	errs  chan error
	done  chan struct{}
	once  sync.Once
}

func newMultiListener(lns ...net.Listener) *multiListener {
	m := &multiListener{lns: lns, conns: make(chan net.Conn), errs: make(chan error, len(lns)), done: make(chan struct{})}
	for _, ln := range lns {
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					var ne net.Error
					if errors.As(err, &ne) && ne.Timeout() {
						continue
					}
					m.errs <- err
					return
				}
				select {
				case m.conns <- c:
				case <-m.done:
					c.Close()
					return
				}
			}
		}()
	}
	return m
}

func (m *multiListener) Accept() (net.Conn, error) {
	select {
	case c := <-m.conns:
		return c, nil
	case err := <-m.errs:
		m.Close()
		return nil, err
	case <-m.done:
		return nil, net.ErrClosed
	}
}

func (m *multiListener) Close() error {
	var errs []error
	m.once.Do(func() {
		close(m.done)
		for _, ln := range m.lns {
			errs = append(errs, ln.Close())
		}
	})
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close listeners: %w", err)
	}
	return nil
}

func (m *multiListener) Addr() net.Addr { return m.lns[0].Addr() }
