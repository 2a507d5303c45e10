// Package lab is Lethe's network lab: real `lethe node` processes, each in its own Linux
// network namespace, joined through an "internet" of public-looking addresses (198.18.0.0/15,
// the range kept for benchmarks) and home routers that do real kernel NAT.
//
// The parts, as docs/performance.md ("The network lab") describes them:
//
//   - The internet is one process, labnet (tests/lab/cmd/labnet), running in the lab's core
//     namespace. Every site (a public host, or a home router's outside) is attached to it by a
//     TUN device in the site's namespace; labnet carries each packet to the site that holds its
//     destination address, after the delay and with the loss of the sending site's link. The
//     kernel here has no netem, so delay and loss are done there, in user space.
//   - Uplink caps are the kernel's: a TBF qdisc on the site's TUN device.
//   - A home router is a namespace with the TUN device outside and a bridge inside, where its
//     hosts (192.168.1.0/24) hang on veth pairs. It masquerades with nftables, keeping the
//     source port (endpoint-independent mapping, as most home routers) or drawing a new one
//     for every connection (symmetric, as carrier-grade NATs); TestNATKinds shows what each
//     does, seen from two outside hosts. A router may run miniupnpd (UPnP IGD, NAT-PMP and
//     PCP), which learns its outside address from a STUN server the lab runs.
//
// Everything the lab makes is named lab-PID-…: namespaces, the temporary directory, and the
// processes inside them (lab-PID-N-TAG-… with LAB_TAG=TAG, to say whose they are on a shared
// machine). A lab is taken down when its test ends; what a killed run left behind
// (its PID no longer running) is removed when the next lab starts. A lab needs root; without it
// New skips the test, saying so. Namespaces, TUN devices and parent-death signals are Linux's:
// every other file of the lab, labnet and netns builds on Linux only (//go:build linux), so that
// the tree vets and builds on the other platforms (tests/checks_test.go TestPlatforms).
package lab
