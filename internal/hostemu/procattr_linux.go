package hostemu

import "syscall"

// childProcAttr puts the handler in its own process group (so Kill reaches anything it
// spawned) and has the kernel kill it when this process dies, so an aborted test binary
// leaves no handler behind.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
