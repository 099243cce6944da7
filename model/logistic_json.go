package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Format names the JSON layout of a model. UnmarshalJSON refuses any other,
// so a file written by an incompatible future version fails loudly instead
// of predicting nonsense.
const Format = "mlservice.logistic-regression/v1"

// jsonModel is the stored form: plain numbers, never executable code. Floats
// are written in Go's shortest round-trip form, so a model read back
// predicts bit for bit what the one written did.
type jsonModel struct {
	Format    string     `json:"format"`
	Features  []string   `json:"features"`
	Scaler    jsonScaler `json:"scaler"`
	Coef      []float64  `json:"coef"`
	Intercept float64    `json:"intercept"`
}

type jsonScaler struct {
	Mean  []float64 `json:"mean"`
	Scale []float64 `json:"scale"`
}

// MarshalJSON writes the versioned JSON form of m.
func (m *Model) MarshalJSON() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return json.Marshal(jsonModel{
		Format:    Format,
		Features:  m.Features,
		Scaler:    jsonScaler{Mean: m.Mean, Scale: m.Scale},
		Coef:      m.Coef,
		Intercept: m.Intercept,
	})
}

// UnmarshalJSON reads the JSON form strictly: unknown fields, a missing or
// different format, trailing data and an inconsistent model are errors.
func (m *Model) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var jm jsonModel
	if err := dec.Decode(&jm); err != nil {
		return fmt.Errorf("decode model: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("decode model: data after the model object")
	}
	if jm.Format != Format {
		return fmt.Errorf("decode model: format %q is not %q", jm.Format, Format)
	}
	dm := Model{
		Features:  jm.Features,
		Mean:      jm.Scaler.Mean,
		Scale:     jm.Scaler.Scale,
		Coef:      jm.Coef,
		Intercept: jm.Intercept,
	}
	if err := dm.Validate(); err != nil {
		return fmt.Errorf("decode model: %w", err)
	}
	*m = dm
	return nil
}
