package eval

import (
	"fmt"
	"strings"
	"text/template"

	"github.com/inference-pio/piobench/model"
)

// A Template turns a case's question into the text sent to the model. It
// is a Go text/template over the fields
//
//	.ID, .Input (the question), .Choices (a list), .ChoiceList
//	("A. first\nB. second"), .Tags
//
// such as "Question: {{.Input}}\nAnswer:".
type Template struct {
	text string
	t    *template.Template
}

type templateData struct {
	ID         string
	Input      string
	Choices    []string
	ChoiceList string
	Tags       []string
}

// ParseTemplate parses a prompt template and tries it on a sample case, so
// that a field that does not exist is reported now.
func ParseTemplate(text string) (*Template, error) {
	t, err := template.New("prompt").Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("prompt template: %s", strings.TrimPrefix(err.Error(), "template: "))
	}
	tm := &Template{text: text, t: t}
	sample := Case{ID: "1", Input: "What is 2+2?", Choices: []string{"3", "4"}, Tags: []string{"arithmetic"}}
	if _, err := tm.Render(&sample); err != nil {
		return nil, err
	}
	return tm, nil
}

// String returns the template's text.
func (t *Template) String() string { return t.text }

// Render returns the prompt text for c.
func (t *Template) Render(c *Case) (string, error) {
	var b strings.Builder
	if err := t.t.Execute(&b, data(c)); err != nil {
		return "", fmt.Errorf("prompt template: %s", strings.TrimPrefix(err.Error(), "template: "))
	}
	return b.String(), nil
}

func data(c *Case) templateData {
	return templateData{ID: c.ID, Input: c.Question(), Choices: c.Choices, ChoiceList: ChoiceList(c.Choices), Tags: c.Tags}
}

// ChoiceList lists choices one a line as "A. text".
func ChoiceList(choices []string) string {
	var b strings.Builder
	for i, ch := range choices {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s. %s", letter(i), ch)
	}
	return b.String()
}

// question renders the case's question: with the template when there is
// one; otherwise the question itself, followed for a multiple-choice case
// by its choice list and "Answer:".
func question(t *Template, c *Case) (string, error) {
	if t != nil {
		return t.Render(c)
	}
	q := c.Question()
	if len(c.Choices) > 0 {
		q += "\n" + ChoiceList(c.Choices) + "\nAnswer:"
	}
	return q, nil
}

// Request builds the request for a case: the conversation in Messages (and
// the system prompt in System) for drivers that speak a chat API, and the
// same as plain text in Prompt for those that continue text. A case with
// only an input and no system prompt is sent as its rendered input alone,
// as the guide does; a chat conversation is written as "User: ..." and
// "Assistant: ..." lines ending with "Assistant:".
func (cfg *Config) Request(c *Case) (model.Request, error) {
	q, err := question(cfg.Template, c)
	if err != nil {
		return model.Request{}, err
	}
	var msgs []model.Message
	if len(c.Messages) > 0 {
		msgs = append(msgs, c.Messages...)
		for i := len(msgs) - 1; i >= 0; i-- {
			if msgs[i].Role == "user" {
				msgs[i].Content = q
				break
			}
		}
	} else {
		msgs = []model.Message{{Role: "user", Content: q}}
	}
	var p strings.Builder
	if cfg.System != "" {
		p.WriteString(cfg.System)
		p.WriteString("\n\n")
	}
	if len(c.Messages) == 0 {
		p.WriteString(q)
	} else {
		for _, m := range msgs {
			switch m.Role {
			case "system":
				p.WriteString(m.Content + "\n\n")
			case "user":
				p.WriteString("User: " + m.Content + "\n")
			case "assistant":
				p.WriteString("Assistant: " + m.Content + "\n")
			}
		}
		p.WriteString("Assistant:")
	}
	return model.Request{
		Prompt:      p.String(),
		System:      cfg.System,
		Messages:    msgs,
		MaxTokens:   cfg.maxTokens(),
		Temperature: 0,
		Seed:        cfg.Seed,
		Stop:        cfg.Stop,
	}, nil
}
