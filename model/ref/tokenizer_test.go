package ref

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestByteTokenizerRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokenizer.bin")
	if err := WriteByteTokenizer(path, 32000); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Size() != byteTokenizerSize(32000) {
		t.Errorf("file has %d bytes, byteTokenizerSize says %d", st.Size(), byteTokenizerSize(32000))
	}
	tok, err := LoadTokenizer(path, 32000)
	if err != nil {
		t.Fatal(err)
	}
	for _, vocab := range []int{259, 400, 32000} {
		small, err := NewByteTokenizer(vocab)
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range []*Tokenizer{tok, small} {
			if vocab != 32000 && tk == tok {
				continue
			}
			for _, text := range []string{
				"", "a", " ", "hello world", "The quick brown fox jumps over the lazy dog.",
				"  two  spaces\tand\ttabs\nand lines\n", "Ünïcødé ✓ — 日本語 🙂", "\x00\xff\xfe invalid \xc3",
				strings.Repeat("the ", 50),
			} {
				ids := tk.Encode(nil, text, true)
				if ids[0] != tokBOS {
					t.Fatalf("vocab %d: %q does not start with BOS: %v", vocab, text, ids)
				}
				for _, id := range ids {
					if id < 0 || id >= tk.Vocab() {
						t.Fatalf("vocab %d: %q: id %d out of range", vocab, text, id)
					}
				}
				// The dummy prefix is dropped after BOS, so decoding
				// gives the text back.
				if got := tk.Decode(ids[0], ids[1:]); got != text {
					t.Errorf("vocab %d: %q decodes to %q (ids %v)", vocab, text, got, ids)
				}
			}
		}
	}
	// Longer pieces win: common words take few tokens.
	ids := tok.Encode(nil, "the cat sat on the mat", false)
	if len(ids) > 8 {
		t.Errorf("%d tokens for a short phrase: %v", len(ids), ids)
	}
	if _, err := NewByteTokenizer(100); err == nil {
		t.Error("a byte-level tokenizer of 100 tokens was made")
	}
}

// TestTokenizerMerges checks the merge order on a hand-made vocabulary.
func TestTokenizerMerges(t *testing.T) {
	pieces := []string{"<unk>", "<s>", "</s>"}
	scores := []float32{0, 0, 0}
	for b := range 256 {
		pieces = append(pieces, "<0x"+hex2(b)+">")
		scores = append(scores, 0)
	}
	add := func(p string, s float32) int {
		pieces = append(pieces, p)
		scores = append(scores, s)
		return len(pieces) - 1
	}
	sp, c := add(" ", 0), add("c", 0)
	add("a", 0)
	add("b", 0)
	ab := add("ab", 5)
	bc := add("bc", 6) // beats "ab" in "abc"
	spa := add(" a", 1)
	abc := add("abc", 4)
	add("aab", 3)
	é := add("é", 0)
	path := filepath.Join(t.TempDir(), "tok.bin")
	if err := writeTokenizer(path, pieces, scores); err != nil {
		t.Fatal(err)
	}
	tok, err := LoadTokenizer(path, len(pieces))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		text string
		want []int
	}{
		{"", []int{tokBOS}},
		// " abc": " ", a, b, c → " ", a, bc (6 beats ab's 5) → " ", abc
		// (4 beats " a"'s 1).
		{"abc", []int{tokBOS, sp, abc}},
		// " a" is the only merge.
		{"a", []int{tokBOS, spa}},
		// "ab": " ", a, b → ab (5) → " "+"ab" is not a piece.
		{"ab", []int{tokBOS, sp, ab}},
		// "cab": " ", c, a, b → ab → no more.
		{"cab", []int{tokBOS, sp, c, ab}},
		// Unknown characters fall back to bytes: "z" is 0x7a, "ü" is c3 bc.
		{"zé", []int{tokBOS, sp, byteBase + 'z', é}},
		{"ü", []int{tokBOS, sp, byteBase + 0xc3, byteBase + 0xbc}},
		// Ties go to the leftmost pair: both "ab" pairs score 5.
		{"abab", []int{tokBOS, sp, ab, ab}},
	} {
		if got := tok.Encode(nil, tc.text, true); !slices.Equal(got, tc.want) {
			t.Errorf("Encode(%q) = %v, want %v", tc.text, got, tc.want)
		}
	}
	if got := tok.Decode(tokBOS, []int{spa, bc, byteBase + 0xc3, byteBase + 0xbc}); got != "abcü" {
		t.Errorf("Decode = %q", got)
	}
	if got := tok.Decode(c, []int{spa}); got != " a" {
		t.Errorf("Decode after a token other than BOS = %q, want the space kept", got)
	}
	if _, err := LoadTokenizer(path, len(pieces)+1); err == nil || !strings.Contains(err.Error(), "tok.bin") {
		t.Errorf("short tokenizer file: %v", err)
	}
	if _, err := LoadTokenizer(path, len(pieces)-1); err == nil || !strings.Contains(err.Error(), "tok.bin") {
		t.Errorf("long tokenizer file: %v", err)
	}
}

func hex2(b int) string {
	const digits = "0123456789ABCDEF"
	return string([]byte{digits[b>>4], digits[b&15]})
}

func FuzzTokenizerRoundTrip(f *testing.F) {
	tok, err := NewByteTokenizer(2000)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("hello world")
	f.Add("Ünïcødé ✓")
	f.Add("\xff\xfe")
	f.Fuzz(func(t *testing.T, text string) {
		ids := tok.Encode(nil, text, true)
		if got := tok.Decode(tokBOS, ids[1:]); got != text {
			t.Errorf("%q decodes to %q", text, got)
		}
	})
}

func TestBadTokenizerFiles(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string][]byte{
		"empty.bin":    nil,
		"negative.bin": header(-1),
		"short.bin":    header(10, 0, 5),
		"badlen.bin":   append(header(4, 0, 100), "abcd"...),
	} {
		path := filepath.Join(dir, name)
		os.WriteFile(path, data, 0o644)
		if _, err := LoadTokenizer(path, 1); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
