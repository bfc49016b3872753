// Command badplugin is a model plugin that misbehaves on purpose, for the
// reliability tests: it answers the handshake and load like a good plugin
// (unless -mode says otherwise), then fails infer in the way -mode names.
// With -child it first starts a long-lived child process (in the plugin's
// process group), so that tests can check the whole group is ended.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

var (
	mode  = flag.String("mode", "", "garbage | progress | binary | deaf | die | exit-handshake | token-flood | huge-line | silent")
	child = flag.Bool("child", false, "start a child process that sleeps")
)

func main() {
	flag.Parse()
	fmt.Fprintf(os.Stderr, "badplugin: pid %d\n", os.Getpid())
	if *child {
		c := exec.Command("sleep", "300")
		if err := c.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "badplugin:", err)
		}
	}
	out := bufio.NewWriter(os.Stdout)
	send := func(v any) {
		b, _ := json.Marshal(v)
		out.Write(b)
		out.WriteByte('\n')
		out.Flush()
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	for in.Scan() {
		var req struct {
			ID     int64  `json:"id"`
			Method string `json:"method"`
		}
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			os.Exit(2)
		}
		switch req.Method {
		case "handshake":
			if *mode == "exit-handshake" {
				fmt.Fprintln(os.Stderr, "badplugin: cannot import torch")
				os.Exit(4)
			}
			send(map[string]any{"id": req.ID, "result": map[string]any{"protocol": 1, "name": "badplugin", "capabilities": []string{"stream"}}})
		case "load":
			send(map[string]any{"id": req.ID, "result": map[string]any{}})
			if *mode == "deaf" {
				// Stops reading stdin, and never answers again.
				forever()
			}
		case "shutdown":
			send(map[string]any{"id": req.ID, "result": map[string]any{}})
			return
		case "infer":
			infer(req.ID, send, out)
		default:
			send(map[string]any{"id": req.ID, "result": map[string]any{}})
		}
	}
}

func forever() {
	for {
		time.Sleep(time.Hour)
	}
}

func infer(id int64, send func(any), out *bufio.Writer) {
	switch *mode {
	case "garbage":
		// A library's log line on stdout, then silence.
		fmt.Fprintln(out, "Loading checkpoint shards: 100%")
		out.Flush()
		forever()
	case "progress":
		// A progress bar on stdout (carriage returns, no line end), forever.
		for {
			fmt.Fprintf(out, "Loading checkpoint shards: %d%%\r", time.Now().Nanosecond()%100)
			out.Flush()
			time.Sleep(time.Millisecond)
		}
	case "binary":
		b := make([]byte, 4096)
		for i := range b {
			b[i] = byte(i*7 + 3)
		}
		for {
			os.Stdout.Write(b)
		}
	case "huge-line":
		// A line that never ends: piobench's line limit must stop it.
		b := make([]byte, 64<<10)
		for i := range b {
			b[i] = 'x'
		}
		os.Stdout.WriteString(`{"id":1,"result":{"text":"`)
		for {
			os.Stdout.Write(b)
		}
	case "silent":
		// Reads on, never answers.
		go io.Copy(io.Discard, os.Stdin)
		forever()
	case "die":
		send(map[string]any{"id": id, "event": "token", "data": map[string]any{"text": "a"}})
		fmt.Fprintln(os.Stderr, "badplugin: killed by the OOM killer")
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
	case "token-flood":
		for {
			send(map[string]any{"id": id, "event": "token", "data": map[string]any{"text": "tok "}})
		}
	default:
		send(map[string]any{"id": id, "result": map[string]any{"text": "ok", "output_tokens": 1}})
	}
}
