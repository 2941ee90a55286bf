//go:build !unix

package testenv

import "syscall"

// procAttr: serverOwner never asks for another user here (no root).
func procAttr(*osUser) *syscall.SysProcAttr { return &syscall.SysProcAttr{} }

// processAlive cannot tell here, so stale directories are left alone.
func processAlive(int) bool { return true }
