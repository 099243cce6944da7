package mlservice

import (
	"context"
	"fmt"

	"github.com/mlservice/mlservice/model"
)

// ReadVersion reads version id's metadata and model for people to look at
// (the history page, a report): every file is checked against the version's
// manifest (sizes and SHA-256), but the model is not self-tested and its
// feature schema may differ from this build's, so a version that would not
// be served can still be shown. Errors name paths relative to
// artifactsDir.
func ReadVersion(artifactsDir, id string) (*Metadata, model.Model, error) {
	if !ValidVersionID(id) {
		return nil, nil, fmt.Errorf("read version %q: %w", truncate(id, 80), ErrBadVersionID)
	}
	files, err := readVersionFiles(artifactsDir, id)
	if err != nil {
		return nil, nil, fmt.Errorf("read version %s: %w", id, err)
	}
	return decodeReadVersion(id, files)
}

// ReadVersion is ReadVersion over these artifacts.
func (a *Artifacts) ReadVersion(ctx context.Context, id string) (*Metadata, model.Model, error) {
	if a.bucket == nil {
		return ReadVersion(a.dir, id)
	}
	if !ValidVersionID(id) {
		return nil, nil, fmt.Errorf("read version %q: %w", truncate(id, 80), ErrBadVersionID)
	}
	files, err := a.bucket.readVersionFiles(ctx, id)
	if err != nil {
		return nil, nil, fmt.Errorf("read version %s: %w", id, err)
	}
	return decodeReadVersion(id, files)
}

// decodeReadVersion decodes the metadata and model of version id from its
// files, already checked against its manifest.
func decodeReadVersion(id string, files map[string][]byte) (*Metadata, model.Model, error) {
	var meta Metadata
	if err := decodeStrict(files[metadataFile], &meta); err != nil {
		return nil, nil, fmt.Errorf("read version %s: %s: %w", id, versionRel(id, metadataFile), err)
	}
	schema, err := versionSchema(files)
	if err != nil {
		return nil, nil, fmt.Errorf("read version %s: %s: %w", id, versionRel(id, schemaFile), err)
	}
	m, err := decodeModel(files[modelFile], schema, meta.ModelFamily)
	if err != nil {
		return nil, nil, fmt.Errorf("read version %s: %s: %w", id, versionRel(id, modelFile), err)
	}
	return &meta, m, nil
}
