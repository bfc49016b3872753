package load

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// An Arrival is how an open loop spaces requests.
type Arrival string

const (
	Poisson  Arrival = "poisson"  // exponential gaps: independent users
	Constant Arrival = "constant" // equal gaps
)

// ParseArrival reads "poisson" or "constant".
func ParseArrival(s string) (Arrival, error) {
	switch a := Arrival(strings.ToLower(s)); a {
	case Poisson, Constant:
		return a, nil
	}
	return "", fmt.Errorf("arrival %q: want poisson or constant", s)
}

// A Level is one load level: a closed loop of Concurrency workers that
// each send a request as soon as their last one finished, or an open loop
// that sends Rate requests per second on a precomputed schedule whatever
// the answers do.
type Level struct {
	Concurrency int     // closed loop when > 0
	Rate        float64 // open loop, requests per second; +Inf sends them all at once
	Arrival     Arrival // open loop spacing (default Poisson)
}

// Closed returns a closed-loop level.
func Closed(concurrency int) Level { return Level{Concurrency: concurrency} }

// Open returns an open-loop level.
func Open(rate float64, a Arrival) Level { return Level{Rate: rate, Arrival: a} }

// IsOpen reports whether l is an open loop.
func (l Level) IsOpen() bool { return l.Concurrency <= 0 }

// String names the level as results do: "concurrency=4", "rate=10/s
// poisson", "rate=inf".
func (l Level) String() string {
	if !l.IsOpen() {
		return "concurrency=" + strconv.Itoa(l.Concurrency)
	}
	if math.IsInf(l.Rate, 1) {
		return "rate=inf"
	}
	a := l.Arrival
	if a == "" {
		a = Poisson
	}
	return "rate=" + strconv.FormatFloat(l.Rate, 'g', -1, 64) + "/s " + string(a)
}

// check validates a level.
func (l Level) check() error {
	if !l.IsOpen() {
		return nil
	}
	if math.IsNaN(l.Rate) || l.Rate <= 0 {
		return fmt.Errorf("rate %v: must be positive requests per second, or inf", l.Rate)
	}
	return nil
}

// ParseConcurrency reads a list such as "1,4,16,64".
func ParseConcurrency(s string) ([]Level, error) {
	var out []Level
	for _, f := range splitList(s) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("concurrency %q: want whole numbers of at least 1, such as 1,4,16", f)
		}
		out = append(out, Closed(n))
	}
	if len(out) == 0 {
		return nil, errors.New("concurrency: empty list")
	}
	return out, nil
}

// ParseRates reads a list such as "10,50,inf" (requests per second).
func ParseRates(s string, a Arrival) ([]Level, error) {
	var out []Level
	for _, f := range splitList(s) {
		var r float64
		if strings.EqualFold(f, "inf") {
			r = math.Inf(1)
		} else {
			var err error
			r, err = strconv.ParseFloat(f, 64)
			if err != nil || math.IsNaN(r) || math.IsInf(r, 0) {
				return nil, fmt.Errorf("rate %q: want requests per second, such as 10,50,inf", f)
			}
			if r <= 0 {
				return nil, fmt.Errorf("rate %s: must be more than 0 requests per second (or inf)", f)
			}
		}
		out = append(out, Open(r, a))
	}
	if len(out) == 0 {
		return nil, errors.New("rate: empty list")
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// Schedule returns the intended send times of an open loop, as offsets
// from its start: n of them, or (n <= 0) as many as fall before d. With an
// infinite rate every offset is 0. Poisson gaps are drawn from seed, so a
// schedule is reproducible.
func Schedule(rate float64, a Arrival, n int, d time.Duration, seed uint64) []time.Duration {
	if math.IsInf(rate, 1) {
		if n <= 0 {
			return nil
		}
		return make([]time.Duration, n)
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	var out []time.Duration
	if n > 0 {
		out = make([]time.Duration, 0, n)
	} else if d > 0 {
		out = make([]time.Duration, 0, int(rate*d.Seconds())+16)
	}
	t := 0.0 // seconds
	for i := 0; ; i++ {
		if n > 0 && i >= n {
			break
		}
		if i > 0 {
			if a == Constant {
				t = float64(i) / rate
			} else {
				t += rng.ExpFloat64() / rate
			}
		}
		off := time.Duration(t * 1e9)
		if n <= 0 && off >= d {
			break
		}
		out = append(out, off)
	}
	return out
}
