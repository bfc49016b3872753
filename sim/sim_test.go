package sim_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/inference-pio/piobench/sim"
)

func start(t *testing.T, cfg sim.Config) *sim.Listening {
	t.Helper()
	l, err := sim.Listen("127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func post(t *testing.T, url, body string, header ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestEndpoints(t *testing.T) {
	l := start(t, sim.Config{Models: []string{"m1", "m2"}})
	resp, err := http.Get(l.URL + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	var list struct{ Data []struct{ ID string } }
	json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if len(list.Data) != 2 || list.Data[0].ID != "m1" {
		t.Errorf("models %+v", list)
	}

	_, body := post(t, l.URL+"/v1/completions", `{"model":"m1","prompt":"one two three","max_tokens":4}`)
	var c struct {
		Object  string
		Choices []struct {
			Text         string
			FinishReason string `json:"finish_reason"`
		}
		Usage struct{ PromptTokens, CompletionTokens int } `json:"usage"`
	}
	if err := json.Unmarshal([]byte(body), &c); err != nil {
		t.Fatal(err, body)
	}
	if c.Object != "text_completion" || len(strings.Fields(c.Choices[0].Text)) != 4 || c.Choices[0].FinishReason != "length" {
		t.Errorf("completion %s", body)
	}
	var u struct {
		Usage struct {
			Prompt     int `json:"prompt_tokens"`
			Completion int `json:"completion_tokens"`
		}
	}
	json.Unmarshal([]byte(body), &u)
	if u.Usage.Prompt != 3 || u.Usage.Completion != 4 {
		t.Errorf("usage %+v", u.Usage)
	}

	_, body = post(t, l.URL+"/v1/chat/completions", `{"model":"m2","messages":[{"role":"user","content":"hi"}],"max_tokens":2,"stream":true,"stream_options":{"include_usage":true}}`)
	lines := strings.Split(strings.TrimSpace(body), "\n\n")
	if len(lines) != 4 || !strings.Contains(lines[0], `"delta":{"content":`) || !strings.Contains(lines[2], `"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2`) || lines[3] != "data: [DONE]" {
		t.Errorf("chat stream:\n%s", body)
	}

	resp, err = http.Get(l.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`vllm:generation_tokens_total{model_name="m1"} 6`, `vllm:prompt_tokens_total{model_name="m1"} 4`, `vllm:request_success_total{model_name="m1"} 2`, `vllm:num_requests_running`, `vllm:time_to_first_token_seconds_count{model_name="m1"} 2`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %q:\n%s", want, b)
		}
	}
}

func TestBadRequests(t *testing.T) {
	l := start(t, sim.Config{APIKey: "k"})
	auth := []string{"Authorization", "Bearer k"}
	for _, tc := range []struct {
		path, body string
		header     []string
		status     int
		msg        string
	}{
		{"/v1/completions", `{"model":"sim","prompt":"x"}`, nil, 401, "API key"},
		{"/v1/completions", `{"model":"nope","prompt":"x"}`, auth, 404, "does not exist"},
		{"/v1/completions", `{not json`, auth, 400, "not valid JSON"},
		{"/v1/completions", `{"model":"sim","prompt":"x","max_tokens":0}`, auth, 400, "max_tokens"},
		{"/v1/chat/completions", `{"model":"sim","messages":[]}`, auth, 400, "messages"},
	} {
		resp, body := post(t, l.URL+tc.path, tc.body, tc.header...)
		if resp.StatusCode != tc.status || !strings.Contains(body, tc.msg) || !strings.Contains(body, `"error"`) {
			t.Errorf("%s %s: %d %s; want %d with %q", tc.path, tc.body, resp.StatusCode, body, tc.status, tc.msg)
		}
	}
}

func TestFailureInjection(t *testing.T) {
	stream := `{"model":"sim","prompt":"x","max_tokens":6,"stream":true}`
	l := start(t, sim.Config{FailRate: 1})
	if resp, body := post(t, l.URL+"/v1/completions", stream); resp.StatusCode != 500 || !strings.Contains(body, "injected failure") {
		t.Errorf("fail rate 1: %d %s", resp.StatusCode, body)
	}
	l = start(t, sim.Config{MidStreamErrorRate: 1})
	_, body := post(t, l.URL+"/v1/completions", stream)
	if strings.Count(body, `"text":`) != 3 || !strings.Contains(body, `{"error":{"message":"injected failure mid-stream"`) || strings.Contains(body, "[DONE]") {
		t.Errorf("mid-stream error:\n%s", body)
	}
	l = start(t, sim.Config{StallRate: 1})
	client := &http.Client{Timeout: 300 * time.Millisecond}
	resp, err := client.Post(l.URL+"/v1/completions", "application/json", strings.NewReader(stream))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil || strings.Count(string(got), `"text":`) != 3 {
		t.Errorf("stall: read %q, err %v; want 3 chunks then a timeout", got, err)
	}
}

func TestQuirksKeepTheAnswer(t *testing.T) {
	plain := start(t, sim.Config{})
	quirky := start(t, sim.Config{Quirks: sim.AllQuirks()})
	body := `{"model":"sim","messages":[{"role":"user","content":"a b"}],"max_tokens":5,"stream":true}`
	_, a := post(t, plain.URL+"/v1/chat/completions", body)
	_, b := post(t, quirky.URL+"/v1/chat/completions", body)
	for _, want := range []string{"\r\n", ": keep-alive", "data:{", `"role":"assistant"`, `"content":""`} {
		if !strings.Contains(b, want) {
			t.Errorf("quirky stream lacks %q", want)
		}
	}
	if strings.Contains(b, "[DONE]") {
		t.Error("quirky stream ends with [DONE]")
	}
	if contents(a) != contents(b) || contents(a) == "" {
		t.Errorf("answers differ: %q vs %q", contents(a), contents(b))
	}
}

// contents concatenates the delta contents of a chat stream.
func contents(stream string) string {
	var out strings.Builder
	sc := bufio.NewScanner(strings.NewReader(stream))
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		data, ok := strings.CutPrefix(line, "data:")
		if !ok {
			continue
		}
		var c struct {
			Choices []struct {
				Delta struct{ Content string }
			}
		}
		if json.Unmarshal([]byte(strings.TrimSpace(data)), &c) == nil && len(c.Choices) > 0 {
			out.WriteString(c.Choices[0].Delta.Content)
		}
	}
	return out.String()
}

func TestScheduleAndCapacity(t *testing.T) {
	var mu sync.Mutex
	var logs []sim.Log
	cfg := sim.Config{TTFT: 20 * time.Millisecond, ITL: 10 * time.Millisecond, Capacity: 1, OnDone: func(l sim.Log) {
		mu.Lock()
		logs = append(logs, l)
		mu.Unlock()
	}}
	l := start(t, cfg)
	body := `{"model":"sim","prompt":"x","max_tokens":5,"stream":true}`
	// Alone: the schedule as configured, each token on its deadline.
	post(t, l.URL+"/v1/completions", body)
	mu.Lock()
	lg := logs[0]
	mu.Unlock()
	if d := lg.Due[0].Sub(lg.Arrival); d != 20*time.Millisecond {
		t.Errorf("first token due %v after arrival, want 20ms", d)
	}
	for i := 1; i < 5; i++ {
		if d := lg.Due[i].Sub(lg.Due[i-1]); d != 10*time.Millisecond {
			t.Errorf("token %d due %v after the one before, want 10ms", i, d)
		}
	}
	var late []time.Duration
	for i := range lg.Due {
		late = append(late, lg.Written[i].Sub(lg.Due[i]))
	}
	sort.Slice(late, func(i, j int) bool { return late[i] < late[j] })
	if late[0] < 0 || late[len(late)/2] > 20*time.Millisecond {
		t.Errorf("tokens written %v after their deadlines", late)
	}
	// Four at once with capacity 1: every delay stretched about 4 times.
	mu.Lock()
	logs = nil
	mu.Unlock()
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			post(t, l.URL+"/v1/completions", body)
		}()
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	slowest := time.Duration(0)
	for _, lg := range logs {
		if d := lg.Due[1].Sub(lg.Due[0]); d > slowest {
			slowest = d
		}
	}
	if slowest < 25*time.Millisecond {
		t.Errorf("with 4 requests over capacity 1, the slowest gap is %v; want about 40ms", slowest)
	}
}

func TestJitterKeepsTheMean(t *testing.T) {
	var mu sync.Mutex
	var gaps []float64
	l := start(t, sim.Config{ITL: time.Millisecond, Jitter: 0.5, OnDone: func(lg sim.Log) {
		mu.Lock()
		defer mu.Unlock()
		for i := 1; i < len(lg.Due); i++ {
			gaps = append(gaps, float64(lg.Due[i].Sub(lg.Due[i-1])))
		}
	}})
	post(t, l.URL+"/v1/completions", `{"model":"sim","prompt":"x","max_tokens":2000}`)
	mu.Lock()
	defer mu.Unlock()
	sum, distinct := 0.0, map[float64]bool{}
	for _, g := range gaps {
		sum += g
		distinct[g] = true
	}
	mean := sum / float64(len(gaps)) / 1e6
	if mean < 0.93 || mean > 1.07 || len(distinct) < 1000 {
		t.Errorf("jittered ITL: mean %.3f ms over %d gaps (%d distinct), want 1 ms", mean, len(gaps), len(distinct))
	}
}
