// Command goplugin is a plugin for the proc driver's tests and benchmarks,
// written in Go so that it needs nothing but the Go toolchain. It is a
// deterministic fake model: a prompt's tokens are its words, and it
// generates max_tokens tokens derived from the prompt. -mode makes it
// misbehave in one of the ways a real plugin can.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"hash/fnv"
	"os"
	"os/exec"
	"strings"
	"time"
)

type request struct {
	ID     int64           `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}

type inferParams struct {
	Prompt    string `json:"prompt"`
	MaxTokens int    `json:"max_tokens"`
	Stream    bool   `json:"stream"`
}

var (
	mode  = flag.String("mode", "", "misbehaviour: wrong-protocol, silent, garbage, crash-load, crash-stream, leak, negative, hang-infer, load-error, no-stream, noop, echo")
	delay = flag.Duration("load-delay", 0, "time load takes")
	out   = bufio.NewWriter(os.Stdout)
)

func send(v any) {
	b, _ := json.Marshal(v) // one write a message
	out.Write(b)
	out.WriteByte('\n')
	out.Flush()
}

type response struct {
	ID     int64 `json:"id"`
	Result any   `json:"result"`
}

type inferResult struct {
	Text         string `json:"text"`
	PromptTokens int    `json:"prompt_tokens"`
	OutputTokens int    `json:"output_tokens"`
	FinishReason string `json:"finish_reason,omitempty"`
}

func result(id int64, r any) { send(response{id, r}) }

func words(p inferParams) []string {
	n := p.MaxTokens
	if n <= 0 {
		n = 16
	}
	h := fnv.New32a()
	h.Write([]byte(p.Prompt))
	seed := h.Sum32()
	w := make([]string, n)
	for i := range w {
		seed = seed*1664525 + 1013904223
		w[i] = fmt.Sprintf("w%d", seed%50)
	}
	return w
}

func main() {
	flag.Parse()
	if *mode == "echo" {
		// Not a plugin: copies each line back, for the cost of the pipes
		// alone.
		r := bufio.NewReader(os.Stdin)
		for {
			line, err := r.ReadBytes('\n')
			if err != nil {
				return
			}
			os.Stdout.Write(line)
		}
	}
	var leaked *exec.Cmd
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	for in.Scan() {
		var req request
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			fmt.Fprintf(os.Stderr, "goplugin: bad request: %v\n", err)
			os.Exit(2)
		}
		switch req.Method {
		case "handshake":
			if *mode == "silent" {
				fmt.Fprintln(os.Stderr, "goplugin: thinking about the handshake...")
				continue
			}
			proto := 1
			if *mode == "wrong-protocol" {
				proto = 99
			}
			caps := []string{"stream", "batch", "stats", "unload", "cancel"}
			if *mode == "no-stream" || *mode == "noop" {
				caps = []string{"stats", "unload"}
			}
			result(req.ID, map[string]any{"protocol": proto, "name": "goplugin", "capabilities": caps,
				"pid": os.Getpid(), "runtime": "go", "info": map[string]any{"seq_len": 4096}, "notes": []string{"fake model"}})
		case "load":
			switch *mode {
			case "crash-load":
				fmt.Fprintln(os.Stderr, "goplugin: loading weights")
				fmt.Fprintln(os.Stderr, "goplugin: out of memory while loading weights")
				os.Exit(3)
			case "load-error":
				send(map[string]any{"id": req.ID, "error": map[string]any{"message": "weights file not found", "type": "FileNotFoundError"}})
				continue
			case "leak":
				leaked = exec.Command("sleep", "300")
				leaked.Stdout, leaked.Stderr = nil, nil
				if err := leaked.Start(); err != nil {
					fmt.Fprintln(os.Stderr, err)
				}
				fmt.Fprintf(os.Stderr, "goplugin: started helper %d\n", leaked.Process.Pid)
			}
			time.Sleep(*delay)
			result(req.ID, map[string]any{})
		case "infer":
			if *mode == "noop" {
				// Answers at once: the protocol's own cost.
				result(req.ID, inferResult{Text: "x", PromptTokens: 1, OutputTokens: 1})
				continue
			}
			var p inferParams
			json.Unmarshal(req.Params, &p)
			if *mode == "hang-infer" {
				time.Sleep(time.Hour)
			}
			if *mode == "garbage" {
				fmt.Fprintln(out, "Loading checkpoint shards: 100%")
				out.Flush()
				continue
			}
			w := words(p)
			for i, t := range w {
				if *mode == "crash-stream" && i == 2 {
					fmt.Fprintln(os.Stderr, "goplugin: segmentation fault in decode step 2")
					os.Exit(139 - 128)
				}
				if p.Stream {
					piece := t
					if i > 0 {
						piece = " " + t
					}
					send(map[string]any{"id": req.ID, "event": "token", "data": map[string]any{"text": piece, "token_id": i}})
				}
			}
			n := len(w)
			if *mode == "negative" {
				n = -1
			}
			result(req.ID, inferResult{Text: strings.Join(w, " "), PromptTokens: len(strings.Fields(p.Prompt)), OutputTokens: n, FinishReason: "length"})
		case "infer_batch":
			var b struct {
				Requests []inferParams `json:"requests"`
			}
			json.Unmarshal(req.Params, &b)
			var rs []map[string]any
			for _, p := range b.Requests {
				w := words(p)
				rs = append(rs, map[string]any{"text": strings.Join(w, " "), "prompt_tokens": len(strings.Fields(p.Prompt)), "output_tokens": len(w)})
			}
			result(req.ID, map[string]any{"responses": rs})
		case "stats":
			result(req.ID, map[string]any{"weight_bytes": 1 << 20, "peak_device_bytes": 0, "goroutines": 1})
		case "unload", "cancel":
			result(req.ID, map[string]any{})
		case "shutdown":
			result(req.ID, map[string]any{})
			return // in leak mode, the helper process stays behind
		default:
			send(map[string]any{"id": req.ID, "error": map[string]any{"message": "unknown method " + req.Method}})
		}
	}
}
