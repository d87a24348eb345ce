// Command pause is the pod sandbox image's only program: it waits for
// SIGTERM or SIGINT and exits 0, like the upstream pause container.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	// Children the container runtime reparents to PID 1 are reaped by the
	// Go runtime's SIGCHLD handling only if asked; ignoring SIGCHLD makes
	// the kernel reap them.
	signal.Ignore(syscall.SIGCHLD)
	<-c
}
