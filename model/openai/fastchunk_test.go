package openai

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"testing"

	"github.com/inference-pio/piobench/model"
)

// slowChunk reads data the reflective way: what scanChunk must agree with.
func slowChunk(data []byte) (text, finish string, u *usage, errText string, err error) {
	var c chunk
	if err := json.Unmarshal(data, &c); err != nil {
		return "", "", nil, "", err
	}
	text, finish = c.content()
	return text, finish, c.Usage, c.errorText(), nil
}

// checkScan fails t if scanChunk accepted data and read it otherwise than
// encoding/json does.
func checkScan(t *testing.T, data []byte) bool {
	t.Helper()
	var fc fastChunk
	if !scanChunk(data, &fc) {
		return false
	}
	text, finish, u, errText, err := slowChunk(data)
	if err != nil {
		t.Fatalf("%q: fast path accepted what encoding/json refuses: %v", data, err)
	}
	if errText != "" {
		t.Fatalf("%q: fast path missed the error %q", data, errText)
	}
	if string(fc.text) != text || finishReason(fc.finish) != finish {
		t.Fatalf("%q: fast text %q finish %q; encoding/json %q %q", data, fc.text, fc.finish, text, finish)
	}
	if fc.hasUsage != (u != nil) || (u != nil && *u != fc.usage) {
		t.Fatalf("%q: fast usage %v %+v; encoding/json %+v", data, fc.hasUsage, fc.usage, u)
	}
	return true
}

var chunkCorpus = []string{
	`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":" the"},"logprobs":null,"finish_reason":null}]}`,
	`{"id":"cmpl-1","object":"text_completion","created":1,"model":"m","choices":[{"index":0,"text":" a","logprobs":null,"finish_reason":"length"}],"usage":null}`,
	`{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}`,
	`{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5,"prompt_tokens_details":{"cached_tokens":0}}}`,
	`{"choices":[{"delta":{"reasoning_content":"think","content":"x"}},{"text":"y","message":{"content":"z","reasoning_content":"r"}}]}`,
	`{"choices":[{"delta":{"reasoning":"hm"},"finish_reason":"stop"}]}`,
	`{"choices":[{"delta":{"content":"caf\u00e9 \"q\" \\ \n"}}]}`,
	`{"choices":[{"delta":{"content":"ünïcödé ✓"}}]}`,
	`{"choices":[{"message":{"content":"whole"},"finish_reason":"length"}],"usage":{"prompt_tokens":2,"completion_tokens":3}}`,
	` { "choices" : [ null , { "text" : null } ] , "usage" : { } } `,
	`{"choices":null,"error":null,"object":null,"message":null}`,
	`{"x":[1,-2.5e+3,true,false,null,{"y":"z"},[]],"choices":[{"text":"t","extra":{"deep":[[[{}]]]}}]}`,
	// Left to encoding/json, which refuses them or finds an error.
	`{"error":{"message":"out of memory"}}`,
	`{"object":"error","message":"engine died"}`,
	`{"choices":[{"delta":{"content":5}}]}`,
	`{"usage":{"prompt_tokens":1.5}}`,
	`{"usage":{"prompt_tokens":99999999999999999999}}`,
	`{"Choices":[{"text":"folded key"}]}`,
	`{"choices":[{"TEXT":"folded key"}]}`,
	`{"choices":[{"text":"a","text":"b"}]}`,
	`{"choices":[{"text":"a"}]} x`,
	`{"choices":[{"text":"a\x01"}]}`,
	`{"choices":[{"text":"bad \x` + "\xff" + `"}]}`,
	`{"choices":[{"text":"a"}],}`,
	`{"n":01}`,
	`{"n":-}`,
	`{"n":1.}`,
	`{"s":"\q"}`,
	`{"s":"\u12"}`,
	`[1]`,
	`null`,
	``,
}

func TestScanChunk(t *testing.T) {
	fast := 0
	for _, c := range chunkCorpus {
		if checkScan(t, []byte(c)) {
			fast++
		}
	}
	// The usual shapes (the first dozen) take the fast path.
	if fast < 12 {
		t.Errorf("only %d chunks took the fast path", fast)
	}
	for i, c := range chunkCorpus[:12] {
		var fc fastChunk
		if !scanChunk([]byte(c), &fc) {
			t.Errorf("chunk %d not read by the fast path: %s", i, c)
		}
	}
}

func FuzzScanChunk(f *testing.F) {
	for _, c := range chunkCorpus {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkScan(t, data)
	})
}

func TestScanChunkAllocs(t *testing.T) {
	data := []byte(chunkCorpus[0])
	var fc fastChunk
	scanChunk(data, &fc)
	if n := testing.AllocsPerRun(100, func() { scanChunk(data, &fc) }); n != 0 {
		t.Errorf("%v allocations per chunk, want 0", n)
	}
}

// jsonBody is the request body as encoding/json would write it: what
// appendBody must agree with.
type jsonBody struct {
	Model    string  `json:"model"`
	Prompt   *string `json:"prompt,omitempty"`
	Messages []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages,omitempty"`
	MaxTokens     int      `json:"max_tokens,omitempty"`
	Temperature   float64  `json:"temperature"`
	TopP          float64  `json:"top_p,omitempty"`
	Seed          *int64   `json:"seed,omitempty"`
	Stop          []string `json:"stop,omitempty"`
	Stream        bool     `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options,omitempty"`
	IgnoreEOS bool `json:"ignore_eos,omitempty"`
}

func TestAppendBody(t *testing.T) {
	for _, api := range []API{Completions, Chat} {
		for _, tc := range []struct {
			req    model.Request
			stream bool
		}{
			{model.Request{Prompt: "plain"}, true},
			{model.Request{Prompt: "quote \" backslash \\ newline \n tab \t ctrl \x01 \x1f <html> & ünï ✓ \u2028", MaxTokens: 7, Temperature: 0.7, TopP: 0.9, Seed: -3, Stop: []string{"\n", "END"}, IgnoreEOS: true}, false},
			{model.Request{Prompt: "bad utf-8 \xff\xfe end", Temperature: 1e-7}, true},
			{model.Request{Prompt: "", Temperature: 2.5e22, TopP: 1}, true},
			{model.Request{Prompt: "ignored in chat", System: "Answer with a number.", Messages: []model.Message{
				{Role: "user", Content: "What is 2+2?"}, {Role: "assistant", Content: "4"}, {Role: "user", Content: "And \"3+3\"?"}}}, true},
			{model.Request{Prompt: "with a system prompt", System: "Be brief."}, false},
		} {
			m := &Model{opts: Options{ModelID: "m\"x", API: api}}
			got, err := m.appendBody(nil, tc.req, tc.stream)
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(got) {
				t.Fatalf("invalid JSON: %s", got)
			}
			want := jsonBody{Model: m.opts.ModelID, MaxTokens: tc.req.MaxTokens, Temperature: tc.req.Temperature, Stop: tc.req.Stop, Stream: tc.stream, IgnoreEOS: tc.req.IgnoreEOS}
			if tc.req.TopP > 0 && tc.req.TopP < 1 {
				want.TopP = tc.req.TopP
			}
			if tc.req.Seed != 0 {
				want.Seed = &tc.req.Seed
			}
			if tc.stream {
				want.StreamOptions = &struct {
					IncludeUsage bool `json:"include_usage"`
				}{true}
			}
			if api == Chat {
				type msg = struct {
					Role    string `json:"role"`
					Content string `json:"content"`
				}
				if tc.req.System != "" {
					want.Messages = append(want.Messages, msg{"system", tc.req.System})
				}
				for _, x := range tc.req.Messages {
					want.Messages = append(want.Messages, msg{x.Role, x.Content})
				}
				if len(tc.req.Messages) == 0 {
					want.Messages = append(want.Messages, msg{"user", tc.req.Prompt})
				}
			} else {
				want.Prompt = &tc.req.Prompt
			}
			wantJSON, _ := json.Marshal(want)
			var a, b any
			json.Unmarshal(got, &a)
			json.Unmarshal(wantJSON, &b)
			if !reflect.DeepEqual(a, b) {
				t.Errorf("%s\nencoding/json: %s", got, wantJSON)
			}
			// Numbers are written as encoding/json writes them.
			for _, f := range []float64{tc.req.Temperature, tc.req.TopP} {
				want, _ := json.Marshal(f)
				if got := appendFloat(nil, f); !bytes.Equal(got, want) {
					t.Errorf("float %v: %s, encoding/json %s", f, got, want)
				}
			}
		}
	}
	m := &Model{opts: Options{ModelID: "m"}}
	if _, err := m.appendBody(nil, model.Request{Temperature: math.NaN()}, true); err == nil {
		t.Error("NaN temperature: no error")
	}
}

func FuzzAppendString(f *testing.F) {
	f.Add("plain")
	f.Add("\"\\\n\x00\xff✓")
	f.Fuzz(func(t *testing.T, s string) {
		b := appendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q: %s is not a JSON string: %v", s, b, err)
		}
		want, _ := json.Marshal(s)
		var w string
		json.Unmarshal(want, &w)
		if got != w {
			t.Fatalf("%q: decodes to %q, encoding/json's to %q", s, got, w)
		}
	})
}
