package mlservice

// The Store under a declared schema: the serving version's schema and model
// are one snapshot, so a request is decoded and scored by the same version.

import (
	"encoding/json"
	"slices"
)

// notReady is the error for a request before any version is loaded: a body
// that is not JSON is malformed whatever the schema, and says so first.
func notReady(data []byte) error {
	if data = trimBOM(data); !json.Valid(data) {
		return malformed(data)
	}
	return ErrNotReady
}

// Schema returns a copy of the serving version's schema (resolved: learned
// categories filled in) and that version's id, or ErrNotReady.
func (s *Store) Schema() (schema *Schema, versionID string, err error) {
	v := s.serving.Load()
	if v == nil {
		return nil, "", ErrNotReady
	}
	return v.schema.clone(), v.id, nil
}

// PredictRow scores one row under the serving version's schema: r.Numbers
// holds its number and binary features and r.Categories its category
// values, each in schema order (under the default schema, the five numbers
// in FeatureNames order). A value outside the schema's rules, or a category
// the model was not trained on (unless the feature ignores unknown values),
// gives an *InputError naming the feature and the value. Like Predict it
// takes no lock and allocates nothing unless it returns an error.
func (s *Store) PredictRow(r *Row) (Prediction, error) {
	v := s.serving.Load()
	if v == nil {
		return Prediction{}, ErrNotReady
	}
	if v.table == nil {
		if len(r.Numbers) != NumFeatures || len(r.Categories) != 0 {
			return Prediction{}, inputError("row", "the default schema takes the five numbers of FeatureNames")
		}
		f := Features{r.Numbers[0], r.Numbers[1], r.Numbers[2], r.Numbers[3], r.Numbers[4]}
		if err := f.Check(); err != nil {
			return Prediction{}, err
		}
		label, p := v.linear.predict(&f)
		v.observeDrift(&f, label)
		return Prediction{Label: label, Probability: p, ModelVersionID: v.id}, nil
	}
	label, p, err := v.table.predictRow(r)
	if err != nil {
		return Prediction{}, err
	}
	v.observeTableDrift(r, label)
	return Prediction{Label: label, Probability: p, ModelVersionID: v.id}, nil
}

// PredictJSON decodes a request body (one JSON object, as DecodeRow) under
// the serving version's schema and scores it with that same version, so a
// hot swap between the two cannot mix schemas. Errors are those of
// DecodeRow (or DecodeFeatures under the default schema) and ErrNotReady.
func (s *Store) PredictJSON(data []byte) (Prediction, error) {
	v := s.serving.Load()
	if v == nil {
		return Prediction{}, notReady(data)
	}
	if v.table == nil {
		f, err := DecodeFeatures(data)
		if err != nil {
			return Prediction{}, err
		}
		label, p := v.linear.predict(&f)
		v.observeDrift(&f, label)
		return Prediction{Label: label, Probability: p, ModelVersionID: v.id}, nil
	}
	r, err := DecodeRow(v.schema, data)
	if err != nil {
		return Prediction{}, err
	}
	label, p, err := v.table.predictRow(&r)
	if err != nil {
		return Prediction{}, err
	}
	v.observeTableDrift(&r, label)
	return Prediction{Label: label, Probability: p, ModelVersionID: v.id}, nil
}

// PredictBatchJSON decodes {"instances": [...]} (at most maxRows, no limit
// if maxRows <= 0) under the serving version's schema and scores every row
// with that version, appending to dst. Every bad field of every row is
// listed at once.
func (s *Store) PredictBatchJSON(dst []Prediction, data []byte, maxRows int) ([]Prediction, error) {
	v := s.serving.Load()
	if v == nil {
		return dst, notReady(data)
	}
	if v.table == nil {
		rows, err := DecodeBatch(data, maxRows)
		if err != nil {
			return dst, err
		}
		dst = slices.Grow(dst, len(rows))
		for i := range rows {
			label, p := v.linear.predict(&rows[i])
			v.observeDrift(&rows[i], label)
			dst = append(dst, Prediction{Label: label, Probability: p, ModelVersionID: v.id})
		}
		return dst, nil
	}
	rows, err := DecodeRows(v.schema, data, maxRows)
	if err != nil {
		return dst, err
	}
	dst = slices.Grow(dst, len(rows))
	for i := range rows {
		label, p, err := v.table.predictRow(&rows[i])
		if err != nil {
			if ie, ok := err.(*InputError); ok {
				ie.batch, ie.Problems[0].Row = true, i
			}
			return dst, err
		}
		dst = append(dst, Prediction{Label: label, Probability: p, ModelVersionID: v.id})
	}
	// Counted once the whole batch is answered: a failed one counts none.
	for i, p := range dst[len(dst)-len(rows):] {
		v.observeTableDrift(&rows[i], p.Label)
	}
	return dst, nil
}
