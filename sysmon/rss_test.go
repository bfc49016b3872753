package sysmon

import (
	"errors"
	"os"
	"testing"
	"time"
)

func TestSelfRSS(t *testing.T) {
	v, err := SelfRSS()
	if err != nil || v < 1<<20 {
		t.Fatalf("SelfRSS = %d, %v; want at least 1 MiB", v, err)
	}
	if _, err := ProcessRSS(1 << 30); err == nil {
		t.Error("RSS of a process that does not exist: no error")
	}
}

var hold []byte

func TestSamplerSeesPeak(t *testing.T) {
	s, err := Start(SelfRSS, time.Millisecond, true)
	if err != nil {
		t.Fatal(err)
	}
	hold = make([]byte, 48<<20)
	for i := 0; i < len(hold); i += os.Getpagesize() {
		hold[i] = 1
	}
	time.Sleep(20 * time.Millisecond)
	hold = nil
	rep := s.Stop()
	if again := s.Stop(); again.Count != rep.Count {
		t.Errorf("second Stop changed the report")
	}
	if rep.Peak < rep.Initial+40<<20 {
		t.Errorf("peak %d, initial %d: the 48 MiB held for 20ms was not seen", rep.Peak, rep.Initial)
	}
	if rep.Count < 3 || len(rep.Points) != rep.Count || rep.SampleRate() <= 0 {
		t.Errorf("count %d, points %d, rate %v", rep.Count, len(rep.Points), rep.SampleRate())
	}
}

func TestSamplerProbeError(t *testing.T) {
	if _, err := Start(func() (uint64, error) { return 0, errors.New("gone") }, time.Millisecond, false); err == nil {
		t.Error("Start with a failing probe succeeded")
	}
	n := 0
	s, err := Start(func() (uint64, error) {
		n++
		if n > 1 {
			return 0, errors.New("process exited")
		}
		return 100, nil
	}, time.Millisecond, false)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	if rep := s.Stop(); rep.Err == nil {
		t.Error("probe errors during sampling were not reported")
	}
}

func TestPointsAreCapped(t *testing.T) {
	s, err := Start(func() (uint64, error) { return 1, nil }, time.Microsecond, false)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3*MaxPoints; i++ {
		s.read()
	}
	rep := s.Stop()
	if len(rep.Points) > MaxPoints+1 {
		t.Errorf("%d points kept, want at most %d", len(rep.Points), MaxPoints+1)
	}
}
