package load

import (
	"encoding/json"
	"time"
)

// recordJSON is a Record as one line of --save-requests output.
type recordJSON struct {
	Level        string    `json:"level"`
	Index        int       `json:"index"`
	IntendedSend string    `json:"intended_send"`
	ActualSend   string    `json:"actual_send"`
	SendLagMS    float64   `json:"send_lag_ms"`
	FirstTokenMS *float64  `json:"first_token_ms"`    // after the actual send
	ChunkTimesMS []float64 `json:"chunk_times_ms"`    // after the actual send
	EndMS        float64   `json:"end_ms"`            // after the actual send
	TTFTMS       *float64  `json:"ttft_ms,omitempty"` // after the intended send
	E2EMS        *float64  `json:"e2e_ms,omitempty"`  // after the intended send
	PromptTokens int       `json:"prompt_tokens"`
	ServerTokens *int      `json:"server_output_tokens"`
	ClientTokens int       `json:"client_output_tokens"`
	OutputTokens int       `json:"output_tokens"`
	FinishReason string    `json:"finish_reason,omitempty"`
	Status       string    `json:"status"`
	Error        string    `json:"error,omitempty"`
	MetSLO       *bool     `json:"met_slo,omitempty"`
}

// MarshalJSON writes the record as one --save-requests line: intended and
// actual send times (RFC 3339, UTC), the first token's and every chunk's
// arrival in milliseconds after the actual send, the server's and the
// client's token counts, the status and the error.
func (r *Record) MarshalJSON() ([]byte, error) {
	resp := r.Response
	j := recordJSON{
		Level:        r.Level,
		Index:        r.Index,
		IntendedSend: r.Start.Add(r.Intended).UTC().Format(time.RFC3339Nano),
		ActualSend:   r.Start.Add(r.Sent).UTC().Format(time.RFC3339Nano),
		SendLagMS:    ms(r.Sent - r.Intended),
		ChunkTimesMS: make([]float64, len(resp.ChunkTimes)),
		EndMS:        ms(resp.Duration),
		PromptTokens: resp.PromptTokens,
		ClientTokens: resp.ClientOutputTokens,
		OutputTokens: outputTokens(resp),
		FinishReason: resp.FinishReason,
		Status:       "ok",
	}
	if resp.FirstToken > 0 {
		v := ms(resp.FirstToken)
		j.FirstTokenMS = &v
	}
	for i, c := range resp.ChunkTimes {
		j.ChunkTimesMS[i] = ms(c)
	}
	if resp.ServerOutputTokens > 0 {
		v := resp.ServerOutputTokens
		j.ServerTokens = &v
	}
	if r.Err != nil {
		j.Status = "error"
		j.Error = r.Err.Error()
	} else {
		t, e := ms(r.Measures.TTFT), ms(r.Measures.E2E)
		j.TTFTMS, j.E2EMS = &t, &e
		g := r.Good
		j.MetSLO = &g
	}
	return json.Marshal(j)
}
