package cluster

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"time"
)

// View is the GET /v1/cluster document.
type View struct {
	Node  string     `json:"node"` // the node that answered
	Error string     `json:"error,omitempty"`
	Nodes []Record   `json:"nodes"`
	Rooms []RoomView `json:"rooms"`
	Stats Stats      `json:"stats"`
	Links any        `json:"links,omitempty"` // the media plane's node links
}

// RoomView is a room: its origin and its members on each node.
type RoomView struct {
	Room    string         `json:"room"`
	Origin  string         `json:"origin,omitempty"`
	Members map[string]int `json:"members,omitempty"` // by node id
}

// View gathers the cluster view. When the store cannot be reached it
// says so in Error, with what this node knows of itself.
func (n *Node) View(ctx context.Context) View {
	v := View{Node: n.cfg.NodeID, Stats: n.Stats()}
	if n.cfg.Links != nil {
		v.Links = n.cfg.Links()
	}
	nodes, err := n.Nodes(ctx)
	var origins []RoomOrigin
	if err == nil {
		origins, err = n.Rooms(ctx)
	}
	if err != nil {
		v.Error = err.Error()
		nodes = []Record{n.record()}
	}
	v.Nodes = nodes
	byRoom := map[string]*RoomView{}
	get := func(name string) *RoomView {
		r := byRoom[name]
		if r == nil {
			r = &RoomView{Room: name}
			byRoom[name] = r
		}
		return r
	}
	for _, o := range origins {
		get(o.Room).Origin = o.Origin
	}
	for _, rec := range nodes {
		for name, members := range rec.Rooms {
			r := get(name)
			if r.Members == nil {
				r.Members = map[string]int{}
			}
			r.Members[rec.ID] = members
		}
	}
	v.Rooms = make([]RoomView, 0, len(byRoom))
	for _, r := range byRoom {
		v.Rooms = append(v.Rooms, *r)
	}
	sort.Slice(v.Rooms, func(i, j int) bool { return v.Rooms[i].Room < v.Rooms[j].Room })
	return v
}

// Handler serves GET /v1/cluster: 200 with the view, or 503 with what
// this node knows when the store is unreachable.
func (n *Node) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		v := n.View(ctx)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if v.Error != "" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(v)
	})
}
