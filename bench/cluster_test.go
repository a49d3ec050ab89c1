package main

import (
	"errors"
	"testing"
)

// Clients of a cluster system go to the nodes in turn, so that a
// scenario's publisher and subscribers are spread over the nodes.
func TestRoundRobinSpreadsClients(t *testing.T) {
	var got []int
	dials := make([]func() (client, error), 3)
	for i := range dials {
		dials[i] = func() (client, error) {
			got = append(got, i)
			return nil, errors.New("not dialed")
		}
	}
	dial := roundRobin(dials)
	for range 7 {
		dial()
	}
	want := []int{0, 1, 2, 0, 1, 2, 0}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("dials went to %v, want %v", got, want)
		}
	}
}
