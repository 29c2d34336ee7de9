//go:build unix && !linux

package hostemu

import "syscall"

// childProcAttr puts the handler in its own process group so Kill reaches anything it
// spawned. Without Linux's parent-death signal, a crashed test binary may leave it running.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
