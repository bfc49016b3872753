package ref

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"unicode/utf8"
)

// Token ids with a fixed meaning in llama2.c vocabularies.
const (
	tokUnknown = 0
	tokBOS     = 1
	tokEOS     = 2
	// byteBase is the id of the piece <0x00>; byte b has id byteBase+b.
	byteBase = 3
)

// A Tokenizer converts between text and token ids with a llama2.c
// vocabulary: byte-pair merges ranked by score, with fallback to one token
// per byte.
type Tokenizer struct {
	pieces     []string
	scores     []float32
	ids        map[string]int
	maxLen     int
	bytePieces [256]int // id of the <0xXX> piece of each byte, or -1
}

// LoadTokenizer reads a llama2.c tokenizer.bin file for a vocabulary of
// vocab tokens.
func LoadTokenizer(path string, vocab int) (*Tokenizer, error) {
	base := filepath.Base(path)
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	r := bufio.NewReader(f)
	var maxLen int32
	if err := binary.Read(r, binary.LittleEndian, &maxLen); err != nil {
		return nil, fmt.Errorf("%s: reading header: %w", base, eofIsUnexpected(err))
	}
	if maxLen <= 0 || maxLen > 1<<16 {
		return nil, fmt.Errorf("%s: max_token_length %d is out of range", base, maxLen)
	}
	pieces := make([]string, vocab)
	scores := make([]float32, vocab)
	var buf [8]byte
	var off int64 = 4
	for i := range vocab {
		if _, err := io.ReadFull(r, buf[:]); err != nil {
			return nil, fmt.Errorf("%s: token %d of %d: %w", base, i, vocab, eofIsUnexpected(err))
		}
		score := math.Float32frombits(binary.LittleEndian.Uint32(buf[:4]))
		n := int32(binary.LittleEndian.Uint32(buf[4:]))
		if n < 0 || n > maxLen || int64(n) > st.Size()-off-8 {
			return nil, fmt.Errorf("%s: token %d has length %d (max_token_length %d)", base, i, n, maxLen)
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, fmt.Errorf("%s: token %d of %d: %w", base, i, vocab, eofIsUnexpected(err))
		}
		off += 8 + int64(n)
		pieces[i], scores[i] = string(b), score
	}
	if off != st.Size() {
		return nil, fmt.Errorf("%s: %d bytes after %d tokens; vocabulary size mismatch?", base, st.Size()-off, vocab)
	}
	return newTokenizer(pieces, scores, int(maxLen)), nil
}

// newTokenizer indexes a vocabulary.
func newTokenizer(pieces []string, scores []float32, maxLen int) *Tokenizer {
	t := &Tokenizer{pieces: pieces, scores: scores, maxLen: maxLen, ids: make(map[string]int, len(pieces))}
	// The first id of a duplicated piece wins, as with llama2.c's sorted
	// lookup of unique pieces.
	for i := len(pieces) - 1; i >= 0; i-- {
		t.ids[pieces[i]] = i
	}
	for b := range t.bytePieces {
		t.bytePieces[b] = -1
	}
	for i, p := range pieces {
		if v, ok := parseBytePiece(p); ok && t.bytePieces[v] < 0 {
			t.bytePieces[v] = i
		}
	}
	return t
}

// parseBytePiece decodes a piece of the form <0xXX>.
func parseBytePiece(p string) (byte, bool) {
	if len(p) != 6 || p[:3] != "<0x" || p[5] != '>' {
		return 0, false
	}
	v, err := strconv.ParseUint(p[3:5], 16, 8)
	return byte(v), err == nil
}

// Vocab returns the number of tokens.
func (t *Tokenizer) Vocab() int { return len(t.pieces) }

// Encode appends the tokens of text to dst and returns it, following
// llama2.c: BOS first when bos is set, a dummy-prefix space before
// non-empty text, each UTF-8 character as its own token or else as byte
// tokens, then repeated merges of the adjacent pair whose concatenation is
// the best-scoring token.
func (t *Tokenizer) Encode(dst []int, text string, bos bool) []int {
	if bos {
		dst = append(dst, tokBOS)
	}
	start := len(dst)
	if text != "" {
		if id, ok := t.ids[" "]; ok {
			dst = append(dst, id)
		}
	}
	for i := 0; i < len(text); {
		// A character is a leading byte and at most three continuation
		// bytes, whether or not it is valid UTF-8.
		j := i + 1
		for j < len(text) && j-i < utf8.UTFMax && text[j]&0xC0 == 0x80 {
			j++
		}
		if id, ok := t.ids[text[i:j]]; ok {
			dst = append(dst, id)
		} else {
			for k := i; k < j; k++ {
				dst = append(dst, t.byteID(text[k]))
			}
		}
		i = j
	}
	toks := dst[start:]
	buf := make([]byte, 0, 2*t.maxLen)
	for {
		best, bestID := float32(math.Inf(-1)), -1
		at := -1
		for i := 0; i+1 < len(toks); i++ {
			buf = append(append(buf[:0], t.pieces[toks[i]]...), t.pieces[toks[i+1]]...)
			if id, ok := t.ids[string(buf)]; ok && t.scores[id] > best {
				best, bestID, at = t.scores[id], id, i
			}
		}
		if at < 0 {
			break
		}
		toks[at] = bestID
		copy(toks[at+1:], toks[at+2:])
		toks = toks[:len(toks)-1]
	}
	return dst[:start+len(toks)]
}

// byteID returns the token of a raw byte.
func (t *Tokenizer) byteID(b byte) int {
	if id := t.bytePieces[b]; id >= 0 {
		return id
	}
	if byteBase+int(b) < len(t.pieces) {
		return byteBase + int(b)
	}
	return tokUnknown
}

// Piece returns the text of token id following token prev, as llama2.c
// prints it: a byte token is its raw byte, and the leading space of the
// token after BOS is dropped.
func (t *Tokenizer) Piece(prev, id int) string {
	if id < 0 || id >= len(t.pieces) {
		return ""
	}
	p := t.pieces[id]
	if prev == tokBOS && len(p) > 0 && p[0] == ' ' {
		p = p[1:]
	}
	if b, ok := parseBytePiece(p); ok {
		return byteStrings[b]
	}
	return p
}

// Decode returns the text of tokens, which follow token prev.
func (t *Tokenizer) Decode(prev int, tokens []int) string {
	var b []byte
	for _, id := range tokens {
		b = append(b, t.Piece(prev, id)...)
		prev = id
	}
	return string(b)
}

// byteStrings holds the one-byte string of every byte, so that decoding a
// byte token does not allocate.
var byteStrings = func() (s [256]string) {
	for i := range s {
		s[i] = string([]byte{byte(i)})
	}
	return s
}()

// ngramAlphabet is the alphabet of the n-gram pieces of the byte-level
// tokenizer, most frequent English letters first.
const ngramAlphabet = " etaoinshrdlucmfwypvbgkjqxz"

// byteVocab returns the pieces and scores of the byte-level vocabulary of
// size vocab: <unk>, <s>, </s>, the 256 byte pieces, the printable ASCII
// characters, then every n-gram over ngramAlphabet for n = 2, 3, ... until
// the vocabulary is full. Longer pieces score higher, so merges prefer them.
func byteVocab(vocab int) ([]string, []float32, error) {
	if vocab < byteBase+256 {
		return nil, nil, fmt.Errorf("byte-level tokenizer needs a vocabulary of at least %d, not %d", byteBase+256, vocab)
	}
	pieces := make([]string, 0, vocab)
	scores := make([]float32, 0, vocab)
	add := func(p string, score float32) bool {
		if len(pieces) == vocab {
			return false
		}
		pieces = append(pieces, p)
		scores = append(scores, score)
		return true
	}
	add("<unk>", 0)
	add("<s>", 0)
	add("</s>", 0)
	for b := range 256 {
		add(fmt.Sprintf("<0x%02X>", b), 0)
	}
	for c := byte(' '); c <= '~'; c++ {
		add(string(c), 0)
	}
	a := ngramAlphabet
	idx := []int{0, 0} // digits of the current n-gram
	for n := 2; len(pieces) < vocab; n++ {
		idx = idx[:0]
		for range n {
			idx = append(idx, 0)
		}
		for {
			b := make([]byte, n)
			for i, d := range idx {
				b[i] = a[d]
			}
			// Longer first; among equals, the earlier (more frequent).
			if !add(string(b), float32(n)-float32(len(pieces))/float32(vocab)) {
				break
			}
			// Next n-gram in lexicographic order of alphabet positions.
			i := n - 1
			for i >= 0 && idx[i] == len(a)-1 {
				idx[i] = 0
				i--
			}
			if i < 0 {
				break
			}
			idx[i]++
		}
	}
	return pieces, scores, nil
}

// NewByteTokenizer returns the byte-level tokenizer of size vocab, the one
// WriteByteTokenizer writes.
func NewByteTokenizer(vocab int) (*Tokenizer, error) {
	pieces, scores, err := byteVocab(vocab)
	if err != nil {
		return nil, err
	}
	maxLen := 0
	for _, p := range pieces {
		maxLen = max(maxLen, len(p))
	}
	return newTokenizer(pieces, scores, maxLen), nil
}

// WriteByteTokenizer writes the byte-level tokenizer of size vocab to path
// in llama2.c's tokenizer.bin format. It encodes any text and decodes it
// back unchanged.
func WriteByteTokenizer(path string, vocab int) error {
	t, err := NewByteTokenizer(vocab)
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return writeTokenizer(path, t.pieces, t.scores)
}

// writeTokenizer writes a tokenizer.bin file.
func writeTokenizer(path string, pieces []string, scores []float32) error {
	maxLen := 0
	for _, p := range pieces {
		maxLen = max(maxLen, len(p))
	}
	return writeAtomic(path, func(w *bufio.Writer) error {
		var b [8]byte
		binary.LittleEndian.PutUint32(b[:4], uint32(maxLen))
		w.Write(b[:4])
		for i, p := range pieces {
			binary.LittleEndian.PutUint32(b[:4], math.Float32bits(scores[i]))
			binary.LittleEndian.PutUint32(b[4:], uint32(len(p)))
			w.Write(b[:])
			if _, err := w.WriteString(p); err != nil {
				return err
			}
		}
		return nil
	})
}

// eofIsUnexpected turns io.EOF into io.ErrUnexpectedEOF: a file that ends
// where more is due is truncated.
func eofIsUnexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
