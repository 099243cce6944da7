package gbdt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Format names the JSON layout of a forest; Decode refuses any other.
const Format = "mlservice.gbdt/v1"

// MaxModelBytes bounds what Decode reads.
const MaxModelBytes = 512 << 20

// jsonForest is model.json: plain numbers in Go's shortest round-trip form,
// so a forest read back predicts bit for bit what the one written did.
type jsonForest struct {
	// Family is "gbdt", the field a reader of several families picks the
	// decoder by; Decode accepts it absent (files written before it).
	Family    string    `json:"family,omitempty"`
	Format    string    `json:"format"`
	Features  []Feature `json:"features"`
	BaseScore float64   `json:"base_score"` // log-odds
	Float32   bool      `json:"float32,omitempty"`
	Params    Params    `json:"params"`
	Trees     []*tree   `json:"trees"`
}

// MarshalJSON writes model.json.
func (f *Forest) MarshalJSON() ([]byte, error) {
	return json.Marshal(jsonForest{
		Family: Family, Format: Format, Features: f.features, BaseScore: f.base, Float32: f.float32,
		Params: f.params, Trees: f.trees,
	})
}

// Decode reads model.json strictly: unknown fields, a missing or different
// format, trailing data, arrays of the wrong size, indices out of range,
// cycles, values that are not finite and trees over the limits are errors
// that name the tree and node.
func Decode(data []byte) (*Forest, error) {
	if len(data) > MaxModelBytes {
		return nil, fmt.Errorf("decode gbdt model: %d bytes, the limit is %d", len(data), MaxModelBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var jf jsonForest
	if err := dec.Decode(&jf); err != nil {
		return nil, fmt.Errorf("decode gbdt model: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("decode gbdt model: data after the model object")
	}
	if jf.Family != "" && jf.Family != Family {
		return nil, fmt.Errorf("decode gbdt model: family %q is not %q", jf.Family, Family)
	}
	if jf.Format != Format {
		return nil, fmt.Errorf("decode gbdt model: format %q is not %q", jf.Format, Format)
	}
	f, err := newForest(jf.Features, jf.BaseScore, jf.Trees, jf.Params, jf.Float32)
	if err != nil {
		return nil, fmt.Errorf("decode gbdt model: %w", err)
	}
	return f, nil
}
