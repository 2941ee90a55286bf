//go:build !linux

package main

import (
	"errors"
	"syscall"
	"time"
)

// The harness measures CPU through /proc; elsewhere it still runs but
// reports no CPU figures.

func childAttr() *syscall.SysProcAttr { return nil }

func procCPU(int) (time.Duration, error) { return 0, errors.New("CPU accounting needs Linux /proc") }

func selfCPU() time.Duration { return 0 }

func hostCPU() (time.Duration, time.Duration, error) { return 0, 0, errors.New("needs Linux /proc") }

func loadAverage() float64 { return 0 }
