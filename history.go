package mlservice

// models/history.jsonl, the audit trail: one JSON record per line, appended
// under the writers' lock and fsynced.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"time"
)

// HistoryLineLimit caps one line of history.jsonl, in bytes without its line
// end. Promote shortens what it records so that its lines stay far below;
// ReadHistory refuses a longer line.
const HistoryLineLimit = 64 << 10

// Bounds on the free-text fields of a record, so that a record always fits
// in a line.
const (
	maxHistoryReason = 4 << 10
	maxHistoryFile   = 1 << 10
)

// HistoryRecord is one line of models/history.jsonl.
type HistoryRecord struct {
	Time              time.Time `json:"time"`
	Event             string    `json:"event"` // a Decision… constant
	VersionID         string    `json:"model_version_id"`
	Metric            *Metric   `json:"metric,omitempty"`
	PreviousVersionID string    `json:"previous_version_id,omitempty"`
	PreviousMetric    *float64  `json:"previous_metric,omitempty"` // on the candidate's evaluation rows
	// PreviousMetricStored is the figure recorded with the previous version.
	PreviousMetricStored *float64 `json:"previous_metric_stored,omitempty"`
	Reason               string   `json:"reason,omitempty"`
	TrainingDataFile     string   `json:"training_data_file,omitempty"`

	// Rule is the promotion rule of a promoted or rejected version's
	// decision; nil for a rollback, and in records written before rules.
	Rule *PromotionRule `json:"rule,omitempty"`
	// Pinned is set on a rollback: CURRENT was pinned to the version.
	Pinned bool `json:"pinned,omitempty"`
	// SchemaChanged is set on a move of CURRENT (rollback, promote by hand)
	// to a version of another schema, allowed by MoveOptions.
	SchemaChanged bool `json:"schema_changed,omitempty"`
	// Warnings names the lines of history skipped while the move was
	// made (HistoryLog.Skipped); never stored.
	Warnings []string `json:"-"`
}

// ReadHistory returns the records of models/history.jsonl, oldest first.
// A line that is not a record is skipped (ReadHistoryLog says which): one
// damaged line must not stop training, rollback or a listing.
func ReadHistory(artifactsDir string) ([]HistoryRecord, error) {
	log, err := ReadHistoryLog(artifactsDir)
	if err != nil {
		return nil, err
	}
	return log.Records, nil
}

// HistoryLog is the history as read: its records and what was skipped.
type HistoryLog struct {
	Records []HistoryRecord // oldest first
	// Skipped has a warning for each line (on an object store, each
	// object) that is not a record, naming it: bad JSON, a duplicate key,
	// no version id or event, or longer than HistoryLineLimit. A torn last
	// line, left by a crash in the middle of an append, is dropped without
	// a warning: the next append cuts it off.
	Skipped []string
}

// ReadHistoryLog reads models/history.jsonl, skipping the lines that are
// not records. Only a failure to read the file is an error.
func ReadHistoryLog(artifactsDir string) (*HistoryLog, error) {
	rel := path.Join(modelsDir, historyFile)
	log := &HistoryLog{}
	f, err := openArtifact(artifactsDir, rel)
	if errors.Is(err, fs.ErrNotExist) {
		return log, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, HistoryLineLimit+1)
	skip := func(n int, format string, a ...any) {
		log.Skipped = append(log.Skipped, fmt.Sprintf("%s line %d skipped: %s", rel, n, fmt.Sprintf(format, a...)))
	}
	for n := 1; ; n++ {
		line, err := r.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			// Drop the rest of the long line; the next one is read as usual.
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = r.ReadSlice('\n')
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("read history: %s: %w", rel, pathless(err))
			}
			skip(n, "longer than %d bytes", HistoryLineLimit)
			if errors.Is(err, io.EOF) {
				return log, nil
			}
			continue
		case errors.Is(err, io.EOF):
			if rec, err := parseHistoryLine(line); len(line) > 0 && err == nil {
				log.Records = append(log.Records, rec) // complete but for its line end
			}
			return log, nil
		case err != nil:
			return nil, fmt.Errorf("read history: %s: %w", rel, pathless(err))
		}
		rec, err := parseHistoryLine(line[:len(line)-1])
		if err != nil {
			skip(n, "%v", err)
			continue
		}
		log.Records = append(log.Records, rec)
	}
}

func parseHistoryLine(line []byte) (HistoryRecord, error) {
	var h HistoryRecord
	if err := decodeStrict(line, &h); err != nil {
		return h, err
	}
	if !ValidVersionID(h.VersionID) || h.Event == "" {
		return h, fmt.Errorf("not a record: model_version_id %q, event %q", truncate(h.VersionID, 80), truncate(h.Event, 80))
	}
	return h, nil
}

// appendHistory appends one line to history.jsonl and fsyncs it, and the
// models directory when it creates the file. A torn last line left by a
// crash is cut off first: ended by a line end it would be a bad line in the
// middle. Free-text fields are shortened so the line stays under
// HistoryLineLimit.
func (a *artifacts) appendHistory(rec HistoryRecord) error {
	rel := path.Join(modelsDir, historyFile)
	line, err := encodeHistory(rec)
	if err != nil {
		return err
	}
	fi, err := os.Lstat(a.path(historyFile))
	created := errors.Is(err, fs.ErrNotExist)
	if err == nil {
		err = checkRegular(rel, fi)
	}
	if err != nil && !created {
		return fmt.Errorf("append history: %w", pathless(err))
	}
	f, err := os.OpenFile(a.path(historyFile), os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("append history: %s: %w", rel, pathless(err))
	}
	defer f.Close()
	if err := cutTornLine(f); err != nil {
		return fmt.Errorf("append history: %s: %w", rel, err)
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("append history: %s: %w", rel, pathless(err))
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("append history: sync %s: %w", rel, pathless(err))
	}
	if created {
		if err := syncDir(a.root); err != nil {
			return fmt.Errorf("append history: %w", err)
		}
	}
	return nil
}

// encodeHistory returns rec as one line, without its line end. Free-text
// fields are shortened so the line stays under HistoryLineLimit.
func encodeHistory(rec HistoryRecord) ([]byte, error) {
	rec.Reason = truncate(rec.Reason, maxHistoryReason)
	rec.TrainingDataFile = truncate(rec.TrainingDataFile, maxHistoryFile)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // reasons hold ">" and "<=", for people to read
	if err := enc.Encode(rec); err != nil {
		return nil, fmt.Errorf("encode history: %w", err)
	}
	line := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if len(line) > HistoryLineLimit {
		return nil, fmt.Errorf("encode history: a record of %d bytes", len(line))
	}
	return line, nil
}

// cutTornLine truncates f after its last line end, dropping a partial record
// a crashed writer left at the end. A last line that is a whole record but
// for its line end (ReadHistory returns it) is ended instead.
func cutTornLine(f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return pathless(err)
	}
	size := st.Size()
	if size == 0 {
		return nil
	}
	tail := make([]byte, min(size, HistoryLineLimit+1))
	if _, err := f.ReadAt(tail, size-int64(len(tail))); err != nil {
		return pathless(err)
	}
	if tail[len(tail)-1] == '\n' {
		return nil
	}
	end := bytes.LastIndexByte(tail, '\n') + 1 // 0: no line end in the tail
	if end == 0 && int64(len(tail)) < size {
		// A last line over the cap is no record (ReadHistoryLog skips it):
		// cut it off after the line end before it, wherever that is.
		at, err := lastLineEnd(f, size-int64(len(tail)))
		if err != nil {
			return err
		}
		return pathless(f.Truncate(at))
	}
	if _, err := parseHistoryLine(tail[end:]); err == nil {
		_, err := f.Write([]byte{'\n'})
		return pathless(err)
	}
	return pathless(f.Truncate(size - int64(len(tail)) + int64(end)))
}

// lastLineEnd returns the offset just past the last line end in f's first
// n bytes, 0 if there is none.
func lastLineEnd(f *os.File, n int64) (int64, error) {
	buf := make([]byte, HistoryLineLimit)
	for n > 0 {
		chunk := buf[:min(n, int64(len(buf)))]
		n -= int64(len(chunk))
		if _, err := f.ReadAt(chunk, n); err != nil {
			return 0, pathless(err)
		}
		if i := bytes.LastIndexByte(chunk, '\n'); i >= 0 {
			return n + int64(i) + 1, nil
		}
	}
	return 0, nil
}
