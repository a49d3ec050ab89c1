package cluster

import (
	"sync/atomic"
	"time"
)

// Stats are a backplane's counters, plain values for metrics.
type Stats struct {
	Up         bool   // linked to Redis (Err is nil)
	Nodes      int    // other nodes alive, as this node knows them
	MsgsOut    uint64 // messages forwarded to other nodes (reached Redis)
	BytesOut   uint64 // their encoded bytes
	BatchesOut uint64 // PUBLISH commands that carried them
	MsgsIn     uint64 // messages received from other nodes
	BytesIn    uint64
	BatchesIn  uint64
	// Dropped counts messages for another node that were not forwarded:
	// its queue was over Options.MaxPending, or Redis refused or did not
	// answer the batch in time.
	Dropped    uint64
	BadFrames  uint64 // undecodable batches, records or control messages received
	Reconnects uint64 // times the link to Redis was set up again after a loss
	// Lag is how old the last batch received was: the time from when its
	// first message was queued on the origin node to its arrival here, by
	// the two nodes' clocks (so only as true as they are in sync).
	Lag time.Duration
}

type counters struct {
	msgsOut, bytesOut, batchesOut atomic.Uint64
	msgsIn, bytesIn, batchesIn    atomic.Uint64
	dropped, badFrames            atomic.Uint64
	reconnects                    atomic.Uint64
	lagMicros                     atomic.Int64
}

// Stats returns the counters now.
func (p *Backplane) Stats() Stats {
	c := &p.counts
	return Stats{
		Up:         p.Err() == nil,
		Nodes:      p.peers.count(),
		MsgsOut:    c.msgsOut.Load(),
		BytesOut:   c.bytesOut.Load(),
		BatchesOut: c.batchesOut.Load(),
		MsgsIn:     c.msgsIn.Load(),
		BytesIn:    c.bytesIn.Load(),
		BatchesIn:  c.batchesIn.Load(),
		Dropped:    c.dropped.Load(),
		BadFrames:  c.badFrames.Load(),
		Reconnects: c.reconnects.Load(),
		Lag:        time.Duration(c.lagMicros.Load()) * time.Microsecond,
	}
}
