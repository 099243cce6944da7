package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Format names the JSON layout of a logistic model. Decoding refuses any
// other, so a file written by an incompatible future version fails loudly
// instead of predicting nonsense.
const Format = "mlservice.logistic-regression/v1"

// jsonLogistic is the stored form: plain numbers, never executable code.
// Floats are written in Go's shortest round-trip form, so a model read back
// predicts bit for bit what the one written did.
type jsonLogistic struct {
	// Family is FamilyLogistic; files written before there were families
	// have none.
	Family    string     `json:"family,omitempty"`
	Format    string     `json:"format"`
	Features  []string   `json:"features"`
	Scaler    jsonScaler `json:"scaler"`
	Coef      []float64  `json:"coef"`
	Intercept float64    `json:"intercept"`
	// Impute is the value each number feature that may be missing takes
	// for NaN (its training median), by name; absent when none may be.
	// (Pointers, so that a null is told from a number.)
	Impute map[string]*float64 `json:"impute,omitempty"`
}

type jsonScaler struct {
	Mean  []float64 `json:"mean"`
	Scale []float64 `json:"scale"`
}

// MarshalJSON writes the versioned JSON form of m.
func (m *Logistic) MarshalJSON() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	var impute map[string]*float64
	for name, v := range m.Impute {
		if impute == nil {
			impute = map[string]*float64{}
		}
		impute[name] = &v
	}
	return json.Marshal(jsonLogistic{
		Family:    FamilyLogistic,
		Format:    Format,
		Features:  m.Features,
		Scaler:    jsonScaler{Mean: m.Mean, Scale: m.Scale},
		Coef:      m.Coef,
		Intercept: m.Intercept,
		Impute:    impute,
	})
}

// UnmarshalJSON reads the JSON form strictly: unknown fields, a missing or
// different format or family, trailing data and an inconsistent model are
// errors. Its layout is the one its column names spell (see Layout);
// DecodeLogistic gives it a schema's.
func (m *Logistic) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var jm jsonLogistic
	if err := dec.Decode(&jm); err != nil {
		return fmt.Errorf("decode model: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("decode model: data after the model object")
	}
	if jm.Family != "" && jm.Family != FamilyLogistic {
		return fmt.Errorf("decode model: family %q is not %q", jm.Family, FamilyLogistic)
	}
	if jm.Format != Format {
		return fmt.Errorf("decode model: format %q is not %q", jm.Format, Format)
	}
	dm := Logistic{
		Features:  jm.Features,
		Mean:      jm.Scaler.Mean,
		Scale:     jm.Scaler.Scale,
		Coef:      jm.Coef,
		Intercept: jm.Intercept,
	}
	for name, v := range jm.Impute {
		if v == nil {
			return fmt.Errorf("decode model: impute: %q is null, not a number", name)
		}
		if dm.Impute == nil {
			dm.Impute = map[string]float64{}
		}
		dm.Impute[name] = *v
	}
	if err := dm.Validate(); err != nil {
		return fmt.Errorf("decode model: %w", err)
	}
	dm.layout = layoutOfNames(dm.Features, dm.Impute)
	dm.w, dm.compiled = *dm.compile(), true
	*m = dm
	return nil
}

// DecodeLogistic reads model.json of a logistic model for rows of layout:
// as UnmarshalJSON, and its columns must be layout's encoding.
func DecodeLogistic(data []byte, layout Layout) (*Logistic, error) {
	var m Logistic
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	return NewLogisticImputed(layout, m.Features, m.Mean, m.Scale, m.Coef, m.Intercept, m.Impute)
}
