package azurite

import "syscall"

// childProcAttr puts the child in its own process group (so Stop can kill everything it
// spawned) and has the kernel kill it when this process dies, so an aborted test binary
// leaves no emulator behind.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
