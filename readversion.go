package mlservice

import (
	"fmt"

	"github.com/mlservice/mlservice/model"
)

// ReadVersion reads version id's metadata and model for people to look at
// (the history page, a report): every file is checked against the version's
// manifest (sizes and SHA-256), but the model is not self-tested and its
// feature schema may differ from this build's, so a version that would not
// be served can still be shown. Errors name paths relative to
// artifactsDir.
func ReadVersion(artifactsDir, id string) (*Metadata, *model.Model, error) {
	if !ValidVersionID(id) {
		return nil, nil, fmt.Errorf("read version %q: %w", truncate(id, 80), ErrBadVersionID)
	}
	files, err := readVersionFiles(artifactsDir, id)
	if err != nil {
		return nil, nil, fmt.Errorf("read version %s: %w", id, err)
	}
	var meta Metadata
	if err := decodeStrict(files[metadataFile], &meta); err != nil {
		return nil, nil, fmt.Errorf("read version %s: %s: %w", id, versionRel(id, metadataFile), err)
	}
	var m model.Model
	if err := decodeStrict(files[modelFile], &m); err != nil {
		return nil, nil, fmt.Errorf("read version %s: %s: %w", id, versionRel(id, modelFile), err)
	}
	return &meta, &m, nil
}
