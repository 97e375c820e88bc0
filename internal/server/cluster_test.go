package server

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/livectl/livectl/internal/signal"
)

// fakeCluster records what the server tells its cluster.
type fakeCluster struct {
	mu     sync.Mutex
	listed map[string][]signal.Participant // last CountsChanged list, by room
	pubs   map[string]int
}

func (f *fakeCluster) RoomOpened(string)    {}
func (f *fakeCluster) RoomClosed(string)    {}
func (f *fakeCluster) Event(string, []byte) {}
func (f *fakeCluster) Ready() error         { return nil }
func (f *fakeCluster) Chat(context.Context, string, signal.ChatMessage) (uint64, error) {
	return 0, nil
}

func (f *fakeCluster) CountsChanged(room string, publishers, _ int, listed []signal.Participant) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listed[room] = slices.Clone(listed)
	f.pubs[room] = publishers
}

// TestJoinedListsPublishersOfEveryNode: in a cluster, a node names its
// publishers to the others (CountsChanged), and a joined reply lists this
// node's publishers, then those the other nodes named, then this node's
// viewers; its counts are the cluster's.
func TestJoinedListsPublishersOfEveryNode(t *testing.T) {
	fc := &fakeCluster{listed: map[string][]signal.Participant{}, pubs: map[string]int{}}
	ts := newTestServer(t, Config{MediaPlane: &fakeMedia{}, Cluster: fc})
	ctx := ctxT(t)

	alice := dial(t, ts.wsURL, nil)
	if _, err := alice.Join(ctx, "r", "alice", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Call(ctx, &signal.Message{Type: signal.TypePublish, SDP: "offer"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { // the node names its publisher
		fc.mu.Lock()
		defer fc.mu.Unlock()
		l := fc.listed["r"]
		return fc.pubs["r"] == 1 && len(l) == 1 && l[0].Identity == "alice" && l[0].Publisher && l[0].SessionID != ""
	})
	viewer := dial(t, ts.wsURL, nil)
	if _, err := viewer.Join(ctx, "r", "vera", ""); err != nil {
		t.Fatal(err)
	}

	// Another node has carol publishing and 5 viewers.
	ts.RemoteCounts("r", 1, 5, []signal.Participant{{Identity: "carol", SessionID: "b-1", Publisher: true}})
	bob := dial(t, ts.wsURL, nil)
	j, err := bob.Join(ctx, "r", "bob", "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range j.Participants {
		got = append(got, p.Identity)
		if p.Publisher != (p.Identity != "vera") {
			t.Errorf("%s listed with publisher:%v", p.Identity, p.Publisher)
		}
	}
	if want := []string{"alice", "carol", "vera"}; !slices.Equal(got, want) {
		t.Errorf("joined lists %v, want %v", got, want)
	}
	if j.Publishers != 2 || j.Viewers != 7 {
		t.Errorf("joined counts %d publishers, %d viewers; want 2 and 7 (cluster-wide)", j.Publishers, j.Viewers)
	}

	// The other node's publisher leaves: the next joined lists only alice's side.
	ts.RemoteCounts("r", 0, 5, nil)
	j, err = dial(t, ts.wsURL, nil).Join(ctx, "r", "dan", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range j.Participants {
		if p.Identity == "carol" {
			t.Errorf("joined still lists the other node's publisher after it left: %+v", j.Participants)
		}
	}
}
