// Command probe is the e2e exposure scenario's traffic tool, copied as a
// static binary into the test host and into a container (whose images have
// no tool that listens on or sends to UDP on one address).
//
//	probe listen ADDR:PORT   TCP and UDP on exactly that address; one line per connection or datagram on stdout
//	probe send ADDR:PORT     one TCP connection attempt (2 s) and one UDP datagram; prints what happened
package main

import (
	"fmt"
	"net"
	"os"
	"time"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: probe listen|send ADDR:PORT")
		os.Exit(2)
	}
	addr := os.Args[2]
	switch os.Args[1] {
	case "listen":
		listen(addr)
	case "send":
		send(addr)
	default:
		fmt.Fprintln(os.Stderr, "usage: probe listen|send ADDR:PORT")
		os.Exit(2)
	}
}

// listen serves until killed, or for ten minutes at most (a test that dies
// leaves no listener behind for long).
func listen(addr string) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			fmt.Printf("tcp connection from %s\n", c.RemoteAddr())
			c.Close()
		}
	}()
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			fmt.Printf("udp datagram %q from %s\n", buf[:n], from)
		}
	}()
	time.Sleep(10 * time.Minute)
}

func send(addr string) {
	if c, err := net.DialTimeout("tcp", addr, 2*time.Second); err != nil {
		fmt.Printf("tcp: %v\n", err)
	} else {
		fmt.Printf("tcp: connected from %s\n", c.LocalAddr())
		c.Close()
	}
	c, err := net.Dial("udp", addr)
	if err != nil {
		fmt.Printf("udp: %v\n", err)
		return
	}
	defer c.Close()
	if _, err := c.Write([]byte("attack")); err != nil {
		fmt.Printf("udp: %v\n", err)
		return
	}
	fmt.Printf("udp: sent from %s\n", c.LocalAddr())
}
