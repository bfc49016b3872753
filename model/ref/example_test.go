package ref_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/inference-pio/piobench/model"
	"github.com/inference-pio/piobench/model/ref"
)

// A small random checkpoint and a byte-level tokenizer, written to disk and
// run like any llama2.c model.
func ExampleWriteCheckpoint() {
	dir, err := os.MkdirTemp("", "ref-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	shape := ref.Shape{Dim: 64, HiddenDim: 128, Layers: 2, Heads: 4, KVHeads: 2, Vocab: 512, SeqLen: 128}
	path := filepath.Join(dir, "tiny.bin")
	if err := ref.WriteCheckpoint(path, shape, 1, true); err != nil {
		log.Fatal(err)
	}
	if err := ref.WriteByteTokenizer(filepath.Join(dir, "tokenizer.bin"), shape.Vocab); err != nil {
		log.Fatal(err)
	}
	m, err := ref.Open(model.Config{Path: path})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	if err := m.Load(ctx); err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	resp, err := m.Infer(ctx, model.Request{Prompt: "hello", MaxTokens: 4})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Info().Name, resp.PromptTokens, resp.OutputTokens, resp.FinishReason)
	// Output: tiny 5 4 length
}
