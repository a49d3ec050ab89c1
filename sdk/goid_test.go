package sdk

import "testing"

func TestGoid(t *testing.T) {
	here := goid()
	other := make(chan uint64)
	go func() { other <- goid() }()
	if there := <-other; here == 0 || there == 0 || here == there {
		t.Fatalf("goroutine ids %d and %d", here, there)
	}
	if goid() != here {
		t.Fatal("goid changed on the same goroutine")
	}
}
