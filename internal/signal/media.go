package signal

import (
	"context"
	"fmt"
)

// Media requests (docs/protocol.md, "Media"). They need a joined room.

// Publish sends an offer with send tracks and returns the server's answer.
// Calling it again with a new offer on the same peer connection renegotiates.
func (c *Client) Publish(ctx context.Context, offerSDP string) (answerSDP string, err error) {
	r, err := c.Call(ctx, &Message{Type: TypePublish, SDP: offerSDP})
	if err != nil {
		return "", err
	}
	if r.Type != TypeAnswer || r.SDP == "" {
		return "", fmt.Errorf("publish: the server replied %q without an SDP answer", r.Type)
	}
	return r.SDP, nil
}

// Subscribe asks for the room's tracks and returns the server's first
// offer. Later offers (renegotiation) arrive as TypeOffer events; answer
// every offer with Answer.
func (c *Client) Subscribe(ctx context.Context) (offerSDP string, err error) {
	r, err := c.Call(ctx, &Message{Type: TypeSubscribe})
	if err != nil {
		return "", err
	}
	if r.Type != TypeOffer || r.SDP == "" {
		return "", fmt.Errorf("subscribe: the server replied %q without an SDP offer", r.Type)
	}
	return r.SDP, nil
}

// Answer sends the answer to the server's latest offer. It has no success
// reply; a failure comes back as a TypeError event.
func (c *Client) Answer(answerSDP string) error {
	return c.Send(&Message{Type: TypeAnswer, SDP: answerSDP})
}

// Trickle sends one ICE candidate for the publisher or subscriber peer
// connection (TargetPublisher, TargetSubscriber).
func (c *Client) Trickle(target string, cand ICECandidate) error {
	return c.Send(&Message{Type: TypeTrickle, Target: target, Candidate: &cand})
}

// Unpublish removes one published track, or all of them (and the publisher
// peer connection) when trackID is empty.
func (c *Client) Unpublish(ctx context.Context, trackID string) error {
	_, err := c.Call(ctx, &Message{Type: TypeUnpublish, TrackID: trackID})
	return err
}
