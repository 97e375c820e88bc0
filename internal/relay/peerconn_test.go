package relay

import (
	"testing"
	"time"
)

func TestCertificateSharedThenRotated(t *testing.T) {
	var c certs
	first, err := c.current()
	if err != nil {
		t.Fatal(err)
	}
	again, _ := c.current()
	if !first.Equals(again) {
		t.Fatal("a second peer connection got a new certificate within the rotation period")
	}
	c.created = time.Now().Add(-certRotation - time.Minute)
	rotated, _ := c.current()
	if first.Equals(rotated) {
		t.Fatal("certificate not rotated after certRotation")
	}
	if rotated.Expires().Before(time.Now().Add(certRotation)) {
		t.Fatalf("a new certificate expires %s, before the next rotation", rotated.Expires())
	}
}
