//go:build linux

package main

import (
	"fmt"
	"syscall"
	"unsafe"

	"lethe/tests/lab/netns"
)

// tunDevice is a TUN device (IP packets, no packet information header) that this process
// made in a site's network namespace. It goes away when the process ends.
type tunDevice struct {
	fd int
}

// openTUN creates the TUN device name in the network namespace whose file is nsPath: the
// kernel makes a TUN device in the namespace of the thread that asks for it.
func openTUN(nsPath, name string) (*tunDevice, error) {
	if len(name) >= syscall.IFNAMSIZ {
		return nil, fmt.Errorf("TUN name %q too long", name)
	}
	var fd int
	err := netns.Do(nsPath, func() (err error) {
		fd, err = createTUN(name)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &tunDevice{fd: fd}, nil
}

func createTUN(name string) (int, error) {
	fd, err := syscall.Open("/dev/net/tun", syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	var ifr struct {
		name  [syscall.IFNAMSIZ]byte
		flags uint16
		_     [22]byte
	}
	copy(ifr.name[:], name)
	ifr.flags = syscall.IFF_TUN | syscall.IFF_NO_PI
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TUNSETIFF, uintptr(unsafe.Pointer(&ifr))); e != 0 {
		syscall.Close(fd)
		return -1, fmt.Errorf("create TUN %s: %w", name, e)
	}
	return fd, nil
}

// read reads one packet. It blocks its thread; each site has its own reader goroutine.
func (t *tunDevice) read(b []byte) (int, error) {
	for {
		n, err := syscall.Read(t.fd, b)
		if err == syscall.EINTR {
			continue
		}
		return n, err
	}
}

func (t *tunDevice) write(b []byte) error {
	for {
		_, err := syscall.Write(t.fd, b)
		if err == syscall.EINTR {
			continue
		}
		return err
	}
}
