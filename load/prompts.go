package load

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
)

// A Prompt is one request's input.
type Prompt struct {
	Text      string
	MaxTokens int // 0: the run's --max-tokens
}

// Prompts hands out the prompt of each request by index.
type Prompts interface {
	// Prompt returns the prompt of request i (i counts from 0 and may
	// exceed any dataset's length: datasets repeat).
	Prompt(i int) Prompt
	// Describe names the source for metadata.
	Describe() string
}

// Synthetic makes seeded prompts of a number of words, each a different
// draw, so that servers cannot answer from a prefix cache. The words are
// common English words that most tokenizers encode as one token each, so
// that the prompt's token count is close to Words; the server's own count
// is recorded from its usage report.
type Synthetic struct {
	Words int
	Seed  uint64
}

var words = strings.Fields(`the of and to in is that it was for on are as with his they at be this from have or by one had not but what all were when we there can an your which their said if do will each about how up out them then she many some so these would other into has more her two like him see time could no make than first been its who now people my made over did down only way find use may water long little very after words called just where most know get through back much go good new write our me man too any day same right look think also around another came come work three word must because does part even place well such here take why things help put years different away again off went old number great tell men say small every found still between name should home big give air line set own under read last never us left end along while might next sound below saw something thought both few those always looked show large often together asked house don world going want school important until form food keep children feet land side without boy once animals life enough took sometimes four head above kind began almost live page got earth need far hand high year mother light parts country father let night following picture being study second eyes soon times story boys since white days ever paper hard near sentence better best across during today others however sure means knew try told young miles sun ways thing whole hear example heard several change answer room sea against top turned learn point city play toward five using himself usually`)

// Prompt implements Prompts.
func (s Synthetic) Prompt(i int) Prompt {
	rng := rand.New(rand.NewPCG(s.Seed, uint64(i)))
	var b strings.Builder
	b.Grow(s.Words * 6)
	for j := 0; j < s.Words; j++ {
		if j > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(words[rng.IntN(len(words))])
	}
	return Prompt{Text: b.String()}
}

// Describe implements Prompts.
func (s Synthetic) Describe() string {
	return fmt.Sprintf("synthetic: %d random common words per prompt, seed %d", s.Words, s.Seed)
}

// Dataset is a list of prompts read from a file, used in order and
// repeated when a run needs more.
type Dataset struct {
	Path  string
	Items []Prompt
}

// Prompt implements Prompts.
func (d *Dataset) Prompt(i int) Prompt { return d.Items[i%len(d.Items)] }

// Describe implements Prompts.
func (d *Dataset) Describe() string {
	return fmt.Sprintf("dataset %s (%d prompts)", d.Path, len(d.Items))
}

// A LineError is a bad line in a dataset.
type LineError struct {
	File string
	Line int
	Msg  string
}

func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// ReadDataset reads a JSON-lines file of prompts: each line an object with
// "prompt" (or "input", or "text") and optionally "max_tokens" (or
// "output_tokens"). Blank lines are skipped; any other bad line is an error
// naming its line.
func ReadDataset(path string) (*Dataset, error) {
	f, err := os.Open(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s: %v", path, pe.Err)
		}
		return nil, err
	}
	defer f.Close()
	return DecodeDataset(f, path)
}

// DecodeDataset reads a dataset from r; name is used in errors.
func DecodeDataset(r io.Reader, name string) (*Dataset, error) {
	d := &Dataset{Path: name}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var item struct {
			Prompt       *string `json:"prompt"`
			Input        *string `json:"input"`
			Text         *string `json:"text"`
			MaxTokens    *int    `json:"max_tokens"`
			OutputTokens *int    `json:"output_tokens"`
		}
		if err := json.Unmarshal(b, &item); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				return nil, &LineError{name, line, fmt.Sprintf("field %q has the wrong type: want %s", te.Field, te.Type)}
			}
			return nil, &LineError{name, line, "not a JSON object: " + strings.TrimPrefix(err.Error(), "json: ")}
		}
		var p Prompt
		switch {
		case item.Prompt != nil:
			p.Text = *item.Prompt
		case item.Input != nil:
			p.Text = *item.Input
		case item.Text != nil:
			p.Text = *item.Text
		default:
			return nil, &LineError{name, line, `no "prompt" (or "input") field`}
		}
		if p.Text == "" {
			return nil, &LineError{name, line, "empty prompt"}
		}
		for _, n := range []*int{item.MaxTokens, item.OutputTokens} {
			if n != nil {
				if *n < 1 {
					return nil, &LineError{name, line, fmt.Sprintf("max_tokens %d: must be at least 1", *n)}
				}
				p.MaxTokens = *n
			}
		}
		d.Items = append(d.Items, p)
	}
	if err := sc.Err(); err != nil {
		return nil, &LineError{name, line + 1, err.Error()}
	}
	if len(d.Items) == 0 {
		return nil, fmt.Errorf("%s: no prompts in the file", name)
	}
	return d, nil
}
