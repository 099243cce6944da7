package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/mlservice/mlservice"
)

// schemaFlag is -schema, shared by train and validate.
func schemaFlag(fs *command, getenv func(string) string) *string {
	def := "the built-in five-column contract"
	if fs.Name() == "train" {
		def = "the schema the current version was declared with, else " + def
	}
	return fs.String("schema", envOr(getenv, "SCHEMA_FILE", ""),
		"schema `FILE` declaring the table, or builtin for the built-in contract (env SCHEMA_FILE; default: "+def+")")
}

// builtinSchema is the -schema value that names the built-in contract:
// what train without -schema no longer means once a version was trained
// under a declared schema. A file of that name is ./builtin.
const builtinSchema = "builtin"

// loadSchema reads the schema file, or returns nil (the default schema)
// for "" or builtinSchema. A bad schema file is invalid input (exit 1).
func loadSchema(path string) (*mlservice.Schema, error) {
	if path == "" || path == builtinSchema {
		return nil, nil
	}
	s, err := mlservice.LoadSchemaFile(path)
	if err != nil {
		if !errors.Is(err, mlservice.ErrInvalidSchema) {
			return nil, err // cannot be read: like a missing DATA.csv, not invalid data
		}
		return nil, &invalidError{err}
	}
	return s, nil
}

// trainSchema is the schema train validates under: -schema's file when
// given, else the declared schema of the current version (what its trainer
// was given, before categories were learned), else nil, the built-in
// contract. It says on stderr when it reuses one.
func trainSchema(ctx context.Context, fs *command, arts *mlservice.Artifacts, path string, stderr io.Writer) (*mlservice.Schema, error) {
	if path != "" {
		return loadSchema(path)
	}
	id, err := arts.CurrentVersion(ctx)
	if errors.Is(err, mlservice.ErrNoCurrent) {
		return nil, nil
	}
	var meta *mlservice.Metadata
	if err == nil {
		meta, _, err = arts.ReadVersion(ctx, id)
	}
	if err != nil {
		// Promote deals with a current version it cannot read; here it only
		// means there is no schema to remember.
		fmt.Fprintf(stderr, "no -schema and the current version cannot be read (%v): using the built-in contract\n", err)
		return nil, nil
	}
	if meta.DeclaredSchema == nil {
		if meta.FeatureSchemaVersion != mlservice.FeatureSchemaVersion {
			return nil, fsUsagef(fs, "no -schema given, and the current version %s (schema %s) does not record the schema it was declared with: pass -schema FILE",
				id, meta.FeatureSchemaVersion)
		}
		return nil, nil
	}
	// Parsed again: the rules are checked as they would be from a file.
	s, err := mlservice.ParseSchema(meta.DeclaredSchema.MarshalIndent())
	if err != nil {
		return nil, &invalidError{fmt.Errorf("the declared schema of the current version %s: %w", id, err)}
	}
	fmt.Fprintf(stderr, "no -schema given: using %s@%s, the schema the current version %s was declared with (-schema builtin for the built-in contract)\n", s.Name, s.Version, id)
	return s, nil
}

// runSchema runs "trainer schema infer".
func runSchema(ctx context.Context, args []string, p proc) error {
	if len(args) == 0 || args[0] != "infer" {
		return usagef("schema takes a subcommand: trainer schema infer [-target COL] [-name NAME] DATA.csv")
	}
	fs := newFlagSet("schema infer", "[-target COL] [-name NAME] DATA.csv",
		"Reads DATA.csv (- for standard input) and prints a draft schema for it on stdout,\nexplaining each choice on stderr: edit it, then train with -schema.")
	target := fs.String("target", "", "the label `COL`umn (no env; default: a column named target, label, class or y, else the last)")
	name := fs.String("name", "", "the schema's `NAME` (no env; default: the file's base name)")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fsUsagef(fs, "schema infer takes one CSV file, got %d arguments", len(pos))
	}
	in, err := openInput(ctx, pos[0], p.stdin)
	if err != nil {
		return err
	}
	defer in.close()
	if *name == "" {
		*name = strings.TrimSuffix(filepath.Base(pos[0]), filepath.Ext(pos[0]))
		if *name == "" || *name == "-" || *name == "." {
			*name = "table"
		}
	}
	s, notes, err := mlservice.InferSchema(ctx, in.r, mlservice.InferOptions{Target: *target, Name: *name})
	for _, n := range notes {
		fmt.Fprintln(p.stderr, "infer:", n)
	}
	if err != nil {
		return &invalidError{err}
	}
	_, err = p.stdout.Write(s.MarshalIndent())
	return err
}
