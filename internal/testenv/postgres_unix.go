//go:build unix

package testenv

import (
	"errors"
	"syscall"
)

// procAttr runs a PostgreSQL program as owner (nil: as this process), with
// no supplementary groups of ours.
func procAttr(owner *osUser) *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{}
	if owner != nil {
		attr.Credential = &syscall.Credential{Uid: uint32(owner.uid), Gid: uint32(owner.gid), Groups: []uint32{}}
	}
	return attr
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
