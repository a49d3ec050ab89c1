package main

import (
	"strings"
	"testing"
)

func TestRunMsgtransBenchFailureCarriesStderr(t *testing.T) {
	_, err := runMsgtransBench("sh", []string{"-c", "echo 'no plugin there' >&2; exit 3"},
		func(msgtransBenchResult) ([]float64, error) { return nil, nil })
	if err == nil || !strings.Contains(err.Error(), "no plugin there") || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("err = %v, want the exit status and the stderr", err)
	}
}

func TestRunMsgtransBenchReadsJSON(t *testing.T) {
	out := `{"scenario":"fanout","pub":{"msgs_per_s":10},"sub":{"msgs_per_s":40,"expected":8,"lost":0},"latency_us":null}`
	scs := pluginScenarios(4, 2)
	vals, err := runMsgtransBench("sh", []string{"-c", "echo '" + out + "'"}, scs[2].values)
	if err != nil || len(vals) != 1 || vals[0] != 40 {
		t.Fatalf("fan-out values = %v, %v; want [40] (received, all subscribers)", vals, err)
	}
	vals, err = runMsgtransBench("sh", []string{"-c", "echo '" + out + "'"}, scs[0].values)
	if err != nil || len(vals) != 1 || vals[0] != 10 {
		t.Fatalf("publish values = %v, %v; want [10] (publish side)", vals, err)
	}
	if _, err := runMsgtransBench("sh", []string{"-c", "echo '" + out + "'"}, scs[3].values); err == nil {
		t.Fatal("request-reply without latency_us: no error")
	}
	lost := `{"sub":{"msgs_per_s":40,"expected":8,"lost":2}}`
	if _, err := runMsgtransBench("sh", []string{"-c", "echo '" + lost + "'"}, scs[1].values); err == nil || !strings.Contains(err.Error(), "2 of 8") {
		t.Fatalf("lost messages: err = %v", err)
	}
}
