package testserver

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// process is a server child process that can be killed and started again
// with the same command line: same port, same files.
type process struct {
	argv   []string
	cred   *credential // the user to run as; nil for the test's own
	output string      // file that gets the process's stdout and stderr, or ""
	tree   bool        // Kill kills the process's children too (PostgreSQL's backends)
	ready  func() error

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// start starts the process and waits, up to limit, until ready reports
// it serves. A process that exits first is started again while limit
// allows: a killed PostgreSQL's backends may take a moment to go.
func (p *process) start(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		err := p.startOnce(deadline)
		if err == nil || !errors.Is(err, errExited) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var errExited = errors.New("exited before it was ready")

func (p *process) startOnce(deadline time.Time) error {
	cmd := exec.Command(p.argv[0], p.argv[1:]...)
	cmd.SysProcAttr = sysProcAttr(p.cred)
	if p.output != "" {
		f, err := os.OpenFile(p.output, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		cmd.Stdout, cmd.Stderr = f, f
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.argv[0], err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	for {
		select {
		case <-done:
			return errExited
		default:
		}
		err := p.ready()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			p.Kill()
			return fmt.Errorf("not ready in time: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// current returns the running command and its exit channel, or nils.
func (p *process) current() (*exec.Cmd, chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return nil, nil
	}
	select {
	case <-p.done:
		return nil, nil
	default:
		return p.cmd, p.done
	}
}

// PID returns the process's ID, or 0 when it is not running.
func (p *process) PID() int {
	if cmd, _ := p.current(); cmd != nil {
		return cmd.Process.Pid
	}
	return 0
}

// Kill kills the process with SIGKILL, as a crash would: no shutdown, no
// goodbye to clients (for PostgreSQL, its backends too). It waits until
// the process has exited; it does nothing when none is running.
func (p *process) Kill() {
	cmd, done := p.current()
	if cmd == nil {
		return
	}
	var kids []int
	if p.tree {
		kids = children(cmd.Process.Pid)
	}
	_ = cmd.Process.Kill()
	for _, pid := range kids {
		if kid, err := os.FindProcess(pid); err == nil {
			_ = kid.Kill()
		}
	}
	<-done
}

// Shutdown sends sig to the process and waits until it exits; after
// limit, it kills it and reports an error.
func (p *process) Shutdown(sig os.Signal, limit time.Duration) error {
	cmd, done := p.current()
	if cmd == nil {
		return nil
	}
	if err := cmd.Process.Signal(sig); err != nil {
		p.Kill()
		return fmt.Errorf("signal %v: %w", sig, err)
	}
	select {
	case <-done:
		return nil
	case <-time.After(limit):
		p.Kill()
		return fmt.Errorf("still running %v after %v: killed", limit, sig)
	}
}

// Stop stops the process with SIGTERM, as at the end of a test (killing
// it if it takes more than 10 s).
func (p *process) Stop() {
	_ = p.Shutdown(syscall.SIGTERM, 10*time.Second)
}

// credential is a user to run a server as.
type credential struct{ uid, gid uint32 }
