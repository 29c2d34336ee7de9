//go:build unix && !linux

package azurite

import "syscall"

// childProcAttr puts the child in its own process group so Stop can kill everything it
// spawned. Without Linux's parent-death signal, a crashed test binary may leave it running.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
