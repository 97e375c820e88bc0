package servertest

import (
	"context"
	"errors"
	"net"
	"testing"
)

// TestStartOnTakenAddress: serve exiting because its address is held
// elsewhere is told apart (StartProcessFree then tries fresh ports), and a
// free start is ready.
func TestStartOnTakenAddress(t *testing.T) {
	bin := Binary(t)
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	_, err = startProcess(t, context.Background(), bin, held.Addr().String(), FreePort(t, "tcp"), nil)
	if !errors.Is(err, errAddrTaken) {
		t.Fatalf("start on a held address: %v, want errAddrTaken", err)
	}
	p := StartProcessFree(t, context.Background(), bin, func(addr string) []string { return []string{"--max-participants", "7"} })
	if p.Addr == held.Addr().String() {
		t.Fatal("started on the held address")
	}
}
