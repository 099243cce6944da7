package mlservice

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mlservice/mlservice/model"
)

// Reading a version: CURRENT, metadata.json and model.json, and the checks a
// version passes before it is served or compared against.

// CurrentVersion returns the id CURRENT names, or ErrNoCurrent.
func CurrentVersion(artifactsDir string) (string, error) {
	return readCurrent(artifactsDir)
}

func readCurrent(artifactsDir string) (string, error) {
	data, err := os.ReadFile(filepath.Join(artifactsDir, modelsDir, currentFile))
	if errors.Is(err, fs.ErrNotExist) {
		return "", ErrNoCurrent
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %w", currentFile, err)
	}
	id := strings.TrimSpace(string(data))
	if id == "" {
		return "", fmt.Errorf("%s is empty: %w", currentFile, ErrBadVersionID)
	}
	if !ValidVersionID(id) {
		return "", fmt.Errorf("%s names %q: %w", currentFile, truncate(id, 80), ErrBadVersionID)
	}
	return id, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func readMetadata(path string) (*Metadata, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m Metadata
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("parse %s: %w", filepath.Base(path), err)
	}
	return &m, nil
}

// selfTestTolerance bounds how far a recomputed example probability may be
// from the stored one. The same code on the same platform gives the same bits;
// the slack covers other platforms fusing multiply-adds.
const selfTestTolerance = 1e-9

// loadVersion reads and checks a complete version: the id's shape, the
// metadata, the model file's checksum, the feature schema, and the stored
// examples recomputed by the loaded model.
func loadVersion(artifactsDir, id string) (*servingVersion, error) {
	if !ValidVersionID(id) {
		return nil, fmt.Errorf("load version %q: %w", truncate(id, 80), ErrBadVersionID)
	}
	dir := filepath.Join(artifactsDir, modelsDir, versionsDir, id)
	corrupt := func(format string, a ...any) error {
		return fmt.Errorf("load version %s: %s: %w", id, fmt.Sprintf(format, a...), ErrCorruptVersion)
	}
	metaJSON, err := os.ReadFile(filepath.Join(dir, metadataFile))
	if errors.Is(err, fs.ErrNotExist) {
		if _, statErr := os.Stat(dir); errors.Is(statErr, fs.ErrNotExist) {
			return nil, fmt.Errorf("load version %s: %w", id, ErrVersionNotFound)
		}
		return nil, corrupt("%s is missing", metadataFile)
	}
	if err != nil {
		return nil, fmt.Errorf("load version %s: %w", id, err)
	}
	var meta Metadata
	if err := json.Unmarshal(metaJSON, &meta); err != nil {
		return nil, corrupt("%s: %v", metadataFile, err)
	}
	switch {
	case meta.SchemaVersion != SchemaVersion:
		return nil, corrupt("metadata schema_version %q, want %q", meta.SchemaVersion, SchemaVersion)
	case meta.ModelVersionID != id:
		return nil, corrupt("metadata names version %q", truncate(meta.ModelVersionID, 80))
	case meta.FeatureSchemaVersion != FeatureSchemaVersion:
		return nil, corrupt("feature schema %q, this build serves %q", meta.FeatureSchemaVersion, FeatureSchemaVersion)
	case len(meta.Examples) == 0:
		return nil, corrupt("metadata has no self-test examples")
	}
	modelJSON, err := os.ReadFile(filepath.Join(dir, modelFile))
	if err != nil {
		return nil, corrupt("%v", err)
	}
	sum := sha256.Sum256(modelJSON)
	if got := hex.EncodeToString(sum[:]); got != meta.ModelSHA256 {
		return nil, corrupt("%s has SHA-256 %s, metadata says %s", modelFile, got, meta.ModelSHA256)
	}
	var m model.Model
	if err := json.Unmarshal(modelJSON, &m); err != nil {
		return nil, corrupt("%v", err)
	}
	if !slices.Equal(m.Features, FeatureNames[:]) {
		return nil, corrupt("model features %v, want %v", m.Features, FeatureNames)
	}
	lin := compile(&m)
	for i, ex := range meta.Examples {
		_, got := lin.predict(&ex.Features) // the code that will serve

		if !(math.Abs(got-ex.Probability) <= selfTestTolerance) {
			return nil, corrupt("self-test example %d: model gives %v, trainer recorded %v", i, got, ex.Probability)
		}
	}
	return &servingVersion{id: id, linear: lin, meta: &meta, metaJSON: metaJSON, loadedAt: time.Now()}, nil
}
